"""Credentials out of everything printed or logged.

Two layers: messages are built with `redact_url` (a cluster URL's password never enters a
string), and, should a library put one into an error text anyway, the edge registers the
process's secrets (`register`: the cluster password, the bearer tokens) and scrubs what it
prints (`scrub`) and every log record (`install_log_scrubber`) of them.

>>> redact_url("https://elastic:hunter2@search.example:9200/")
'https://elastic:***@search.example:9200/'
>>> redact_url("http://127.0.0.1:9200")
'http://127.0.0.1:9200'
>>> redact_url("https://elastic:a,b@h1:9200,https://elastic:c@h2:9200")
'https://elastic:***@h1:9200,https://elastic:***@h2:9200'
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
#: Shorter strings are not scrubbed: masking every "a" would garble the text, not protect it.
MIN_SECRET_CHARS = 4

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def split_urls(text: str | None) -> list[str]:
    """The URLs of a comma-separated list (a cluster's hosts). A comma inside a URL's password
    stays in it: a part without a scheme whose text reaches an `@` continues the URL before.

    >>> split_urls("http://h1:9200, http://u:p,q@h2:9200/,h3:9200")
    ['http://h1:9200', 'http://u:p,q@h2:9200/', 'h3:9200']
    >>> split_urls("")
    []
    """
    urls: list[str] = []
    for part in (text or "").split(","):
        authority = part.split("/", 1)[0]
        if urls and not _SCHEME.match(part.strip()) and "@" in authority and "@" not in _authority(urls[-1]):
            urls[-1] += "," + part
        else:
            urls.append(part)
    return [u.strip() for u in urls if u.strip()]


def _authority(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def redact_url(url: str | None) -> str:
    """`url` with the password of its user info masked (the user name stays: it helps
    debugging); a comma-separated list has every URL's masked."""
    if not url:
        return ""
    urls = split_urls(url)
    if len(urls) > 1:
        return ",".join(redact_url(u) for u in urls)
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:{MASK}@{host}" if parts.username else f"{MASK}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def url_passwords(urls: str | None) -> list[str]:
    """The passwords every URL of a comma-separated list carries in its user info.

    >>> url_passwords("http://a:one@h1,http://h2,http://b:two@h3")
    ['one', 'two']
    """
    found = []
    for url in split_urls(urls):
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            found.append(password)
    return found


def register(*secrets: str | None) -> None:
    """Secrets `scrub` and the log scrubber mask from now on (None and short values ignored)."""
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= MIN_SECRET_CHARS)


def scrub(text: str) -> str:
    """`text` with every registered secret masked (longest first, so one inside another goes too)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install_log_scrubber() -> None:
    """Scrub every log record of the registered secrets when it is created, whichever logger
    (ours, the cluster clients', the WSGI server's) and handler it goes to. Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    make = logging.getLogRecordFactory()

    def scrubbed(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if _secrets:
            try:
                _scrub_record(record)
            except Exception:  # a malformed log call is logging's to report (at emit), not the caller's
                pass
        return record

    logging.setLogRecordFactory(scrubbed)


def _scrub_record(record: logging.LogRecord) -> None:
    message = record.getMessage()
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        if scrub(text) != text:
            record.exc_text, record.exc_info = scrub(text), None
