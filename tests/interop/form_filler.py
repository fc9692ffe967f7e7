#!/usr/bin/env python3
"""The user at the browser, for interop clients: completes the bridge's plain HTML forms (consent,
then the dev provider's login) from an authorization URL until the bridge redirects to the
client's own redirect URI, and returns (as a module) or, with --visit, opens that URL.

    python3 form_filler.py [--visit] AUTHORIZATION_URL

Standard library only; loopback only; at most MAX_STEPS requests of REQUEST_TIMEOUT each. Never
prints URLs with their query (codes and states).
"""

import html
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_STEPS = 12
REQUEST_TIMEOUT = 10
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D401 - we follow by hand
        return None


def _loopback(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"form_filler: refusing a non-loopback URL ({host})")
    return url


def _path(url):
    return urllib.parse.urlsplit(url).path


def _attrs(text):
    return {k.lower(): html.unescape(v) for k, v in re.findall(r'([\w-]+)\s*=\s*"([^"]*)"', text)}


def _single_form(page, base):
    forms = re.findall(r"<form\b([^>]*)>(.*?)</form>", page, re.S | re.I)
    if len(forms) != 1:
        raise SystemExit(f"form_filler: expected one <form> on {_path(base)}, found {len(forms)}")
    form_attrs, inner = forms[0]
    a = _attrs(form_attrs)
    fields = {}
    for raw in re.findall(r"<input\b([^>]*)>", inner, re.I):
        i = _attrs(raw)
        if i.get("type", "text").lower() == "hidden" and i.get("name"):
            fields[i["name"]] = i.get("value", "")
    buttons = [_attrs(b) for b in re.findall(r"<button\b([^>]*)>", inner, re.I)]
    # Approve when asked (consent), else the first named submit button (the dev login).
    chosen = next((b for b in buttons if b.get("value") == "approve"), None)
    chosen = chosen or next((b for b in buttons if b.get("name")), None)
    if chosen:
        fields[chosen["name"]] = chosen.get("value", "")
    action = urllib.parse.urljoin(base, a.get("action", ""))
    return a.get("method", "get").lower(), action, fields


def complete(authorization_url):
    """Returns the redirect to the client (its redirect URI with code and state)."""
    bridge = urllib.parse.urlsplit(_loopback(authorization_url))
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    url, data = authorization_url, None
    for _ in range(MAX_STEPS):
        request = urllib.request.Request(_loopback(url), data=data)
        if data is not None:
            request.add_header("content-type", "application/x-www-form-urlencoded")
        try:
            response = opener.open(request, timeout=REQUEST_TIMEOUT)
            status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        if status in (301, 302, 303, 307, 308):
            target = urllib.parse.urljoin(url, headers["location"])
            t = urllib.parse.urlsplit(_loopback(target))
            if (t.scheme, t.netloc) != (bridge.scheme, bridge.netloc):
                return target
            url, data = target, None
            continue
        if status != 200:
            raise SystemExit(f"form_filler: {_path(url)} answered {status}")
        method, action, fields = _single_form(body.decode("utf-8", "replace"), url)
        encoded = urllib.parse.urlencode(fields)
        if method == "post":
            url, data = action, encoded.encode()
        else:
            url, data = f"{action}?{encoded}", None
    raise SystemExit(f"form_filler: no redirect to the client within {MAX_STEPS} requests")


def main(argv):
    visit = "--visit" in argv
    urls = [a for a in argv if a != "--visit"]
    if len(urls) != 1:
        raise SystemExit("usage: form_filler.py [--visit] AUTHORIZATION_URL")
    target = complete(urls[0])
    if visit:
        # The client's own callback server (mcp-remote's): deliver the code to it.
        with urllib.request.urlopen(_loopback(target), timeout=REQUEST_TIMEOUT) as r:
            r.read()
        print(f"form_filler: delivered the redirect to {_path(target)}")
    else:
        # The query carries the code: only the path is shown.
        print(f"form_filler: the bridge redirected to {_path(target)}")


if __name__ == "__main__":
    main(sys.argv[1:])
