//! The `…_file` and `…_env` forms of secret keys (resolved by `secrets`) in the JSON Schema:
//! they are not fields of the typed configuration, so they are added to the generated schema.

use schemars::schema::{InstanceType, RootSchema, Schema, SchemaObject};

/// Secret keys as (schema definition, key, whether one of its forms is required).
const SECRETS: [(&str, &str, bool); 5] = [
    ("DatabaseConfig", "url", true),
    ("AdminTokenConfig", "sha256", true),
    ("ProviderConfig", "client_secret", false),
    ("TokenExchangeCredentials", "client_secret", true),
    ("RemoteOAuthConfig", "client_secret", false),
];

/// Adds `X_file` / `X_env` beside every secret key `X`, and `keys_file` / `keys_env` beside
/// `crypto.keys`.
pub(super) fn document(root: &mut RootSchema) {
    for (definition, key, required) in SECRETS {
        let Some(Schema::Object(def)) = root.definitions.get_mut(definition) else {
            continue;
        };
        let what = format!("`{key}`");
        let object = def.object();
        object
            .properties
            .insert(format!("{key}_file"), string(file_form(&what)));
        object
            .properties
            .insert(format!("{key}_env"), string(env_form(&what)));
        if required {
            object.required.remove(key);
            let forms = ["", "_file", "_env"].map(|suffix| requires(format!("{key}{suffix}")));
            def.subschemas().one_of = Some(forms.to_vec());
        }
    }
    if let Some(Schema::Object(crypto)) = root.definitions.get_mut("CryptoConfig") {
        let what = "the key of the same id in `keys`";
        let properties = &mut crypto.object().properties;
        properties.insert("keys_file".into(), map_of_strings(file_form(what)));
        properties.insert("keys_env".into(), map_of_strings(env_form(what)));
    }
}

fn file_form(what: &str) -> String {
    format!(
        "Reads {what} from this file (a mounted Kubernetes or Docker secret; trailing newlines \
         are trimmed). Exclusive with the other forms of the same secret."
    )
}

fn env_form(what: &str) -> String {
    format!(
        "Reads {what} from the environment variable of this name. Exclusive with the other \
         forms of the same secret."
    )
}

fn string(description: String) -> Schema {
    let mut schema = SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        ..Default::default()
    };
    schema.metadata().description = Some(description);
    schema.into()
}

fn map_of_strings(description: String) -> Schema {
    let mut schema = SchemaObject {
        instance_type: Some(InstanceType::Object.into()),
        ..Default::default()
    };
    schema.metadata().description = Some(description);
    schema.object().additional_properties = Some(Box::new(string_type()));
    schema.into()
}

fn string_type() -> Schema {
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        ..Default::default()
    }
    .into()
}

fn requires(key: String) -> Schema {
    let mut schema = SchemaObject::default();
    schema.object().required.insert(key);
    schema.into()
}
