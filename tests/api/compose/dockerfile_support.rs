//! Reading the `Dockerfile`: instructions, stages, the final stage's `ENV`, `CMD`, health check.

use super::compose_file_support::read;

pub const DOCKERFILE: &str = "Dockerfile";

pub struct Dockerfile {
    /// (INSTRUCTION, arguments) with line continuations joined and comments dropped.
    pub instructions: Vec<(String, String)>,
}

pub fn dockerfile() -> Dockerfile {
    let text = read(DOCKERFILE);
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') && current.is_empty() {
            continue; // comments and parser directives
        }
        if trimmed.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let full = std::mem::take(&mut current);
        let full = full.trim();
        if full.is_empty() {
            continue;
        }
        let (instr, args) = full.split_once(char::is_whitespace).unwrap_or((full, ""));
        instructions.push((instr.to_ascii_uppercase(), args.trim().to_owned()));
    }
    Dockerfile { instructions }
}

impl Dockerfile {
    pub fn stages(&self) -> Vec<&[(String, String)]> {
        let starts: Vec<usize> = self
            .instructions
            .iter()
            .enumerate()
            .filter(|(_, (i, _))| i == "FROM")
            .map(|(n, _)| n)
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let end = starts
                    .get(k + 1)
                    .copied()
                    .unwrap_or(self.instructions.len());
                &self.instructions[s..end]
            })
            .collect()
    }

    pub fn runtime(&self) -> &[(String, String)] {
        self.stages().last().copied().unwrap_or_default()
    }

    /// `ENV` of the final stage (`ENV K=V K2=V2` and the legacy `ENV K V`).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, args) in self.runtime() {
            if i != "ENV" {
                continue;
            }
            if args.contains('=') {
                for pair in args.split_whitespace() {
                    if let Some((k, v)) = pair.split_once('=') {
                        out.push((k.to_owned(), v.trim_matches('"').to_owned()));
                    }
                }
            } else if let Some((k, v)) = args.split_once(char::is_whitespace) {
                out.push((k.to_owned(), v.trim().to_owned()));
            }
        }
        out
    }

    pub fn cmd(&self) -> Option<Vec<String>> {
        self.runtime()
            .iter()
            .rev()
            .find(|(i, _)| i == "CMD")
            .map(|(_, a)| exec_form(a))
    }

    pub fn has_healthcheck(&self) -> bool {
        self.runtime()
            .iter()
            .any(|(i, a)| i == "HEALTHCHECK" && !a.eq_ignore_ascii_case("NONE"))
    }
}

/// `["a", "b"]` (exec form) or `a b` (shell form, split on whitespace).
pub fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(args)
        .unwrap_or_else(|_| args.split_whitespace().map(str::to_owned).collect())
}
