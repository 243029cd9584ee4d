"""Hand-written candidate patterns. A candidate becomes a finding only after the checks in the
detector modules (checksums, `ipaddress`, entropy); the regexes alone are deliberately loose.

Where a pattern has a named group `value`, only that group is replaced (the rest is context)."""

from __future__ import annotations

import re

# --- secrets -------------------------------------------------------------------------------

PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:.*?-----END (?P=label)-----"
    # No END line (a truncated paste): take the base64 lines that follow the header.
    r"|(?:[ \t]*(?:\r?\n|\\n)[ \t]*[A-Za-z0-9+/=]{16,})*)",
    re.DOTALL,
)

# scheme://user:password@host; the user part may be empty (redis://:password@host).
URL_PASSWORD = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:(?P<value>[^\s/?#]+)@(?=[^\s@/?#])"
)

WEBHOOK_URL = re.compile(
    r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<value>[A-Za-z0-9_/]{20,})"
    r"|https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/(?P<value2>[\w-]{30,})"
)

JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")

# Vendor tokens with a fixed, recognisable prefix.
VENDOR_TOKEN = re.compile(
    r"(?<![\w-])(?:"
    r"xox[abeoprs]-[A-Za-z0-9-]{10,}"  # Slack bot/user/app/refresh tokens
    r"|xoxe\.xox[bp]-[A-Za-z0-9-]{10,}"
    r"|xapp-\d-[A-Za-z0-9-]{10,}"  # Slack app-level token
    r"|sk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{20,}"  # OpenAI style
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"  # Stripe secret / restricted
    r"|whsec_[A-Za-z0-9]{20,}"  # Stripe webhook signing secret
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub classic tokens
    r"|github_pat_[A-Za-z0-9_]{22,}"  # GitHub fine-grained PAT
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|npm_[A-Za-z0-9]{36}"
    r"|pypi-[A-Za-z0-9_-]{16,}"
    r"|dckr_pat_[A-Za-z0-9_-]{20,}"
    r"|sntrys_[A-Za-z0-9_=+/-]{20,}"  # Sentry
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|ya29\.[0-9A-Za-z_-]{20,}"  # Google OAuth access token
    r"|GOCSPX-[A-Za-z0-9_-]{20,}"  # Google OAuth client secret
    r")"
)

AWS_ACCESS_KEY_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
)

AWS_SECRET_KEY = re.compile(
    r"(?i)(?:aws_?)?secret_?access_?key[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)

# curl -u user:password, --user=user:password (the user stays).
CLI_USER_PASSWORD = re.compile(
    r"(?<![\w-])(?:-u|--user)(?:[ \t]+|=)[\"']?[^\s:\"'@]+:(?P<value>[^\s\"']+)"
)

# Three dot-separated segments: base64 user id, timestamp, HMAC.
DISCORD_BOT_TOKEN = re.compile(
    r"(?<![\w.-])[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}(?![\w.-])"
)
# "Bearer <token>", "Authorization: token <token>", "Basic <base64 user:password>".
AUTH_HEADER = re.compile(
    r"(?i)(?:\bbearer|\bauthorization:[ \t]*(?:token|basic)|\bbasic)[ \t]+"
    r"(?P<value>[A-Za-z0-9._~+/-]{12,}=*)"
)

# name = value, name: value, "name": "value", --name=value, PASSWORD 'value'. The keyword must end
# the name (`max_tokens`, `password_hash`, `token_url` are not secrets), bar a few suffixes.
SECRET_KEYWORD = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token"
    r"|api[_-]?key|apikey|(?:access|secret|private|encryption|signing|master|auth|client|app)"
    r"[_-]?key)"
)
SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?<![\w.-])(?P<name>[\w.-]*?" + SECRET_KEYWORD + r"(?:[_.-](?:key|base|value))*)"
    r"[\"']?(?:[ \t]*(?::=|=>|=(?!=)|:(?!:))[ \t]*|[ \t]+(?=[\"']))"
    r"(?:(?P<quote>[\"'`])(?P<quoted>[^\"'`\n]+)(?P=quote)|(?P<bare>[^\s\"'`,;)}\]]+))"
)

PASSWORD_NAME = re.compile(r"(?i)(?:pass(?:word|wd|phrase)?|pwd)$")

# Template syntax and masks that stand for a secret without being one.
PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:\$.*|\{.*|<.*>|%\(?\w*\)?s|\*+|x{3,}|\.{3}|…|sk-\.\.\.|null|none|nil|true|false"
    r"|undefined|changeme|redacted|\[redacted\]|your[_-].*|.*_here|example|dummy)$"
)
# A bare identifier or attribute access (`settings.SECRET_KEY`, `None`) is code, not a value.
CODE_REFERENCE = re.compile(r"^[A-Za-z_]+(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")

# --- personal data -------------------------------------------------------------------------

SLACK_MAILTO = re.compile(r"<mailto:[^\s|>]+@[^\s|>]+(?:\|[^>\n]*)?>")
SLACK_TEL = re.compile(r"<tel:[^\s|>]+(?:\|[^>\n]*)?>")

EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,34}")

# 4-4-4-4 (up to 19 digits) or Amex/Diners 4-6-5 / 4-6-4 with one kind of separator, or a run.
CARD_CANDIDATE = re.compile(
    r"(?<![\w.,/+-])(?:\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{1,4}(?:(?P=sep)\d{1,3})?"
    r"|\d{4}(?P<sep2>[ -])\d{6}(?P=sep2)\d{4,5}"
    r"|\d{13,19})(?![\w-]|[.,/]\d)"
)

SSN_DASHED = re.compile(r"(?<![\w-])(?P<area>\d{3})-(?P<group>\d{2})-(?P<serial>\d{4})(?![\w-])")
# Without dashes nine digits are just a number, so these forms need the word "SSN" before them.
SSN_AFTER_KEYWORD = re.compile(
    r"(?i)\b(?:ssn|social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?)\b[^\d\n]{0,20}"
    r"(?P<value>(?P<area>\d{3})[ -]?(?P<group>\d{2})[ -]?(?P<serial>\d{4}))(?![\w-])"
)

# Not glued to a longer dotted number (1.2.3.4.5) or a suffix (-rc1); a range 10.0.0.1-10.0.0.9 is.
IPV4_CANDIDATE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d|-[A-Za-z])")
# Hex groups and at least two colons; an IPv4 tail covers ::ffff:192.0.2.1.
IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:])"
)
# "version 1.2.3.4", "v 10.0.0.1", "==1.2.3.4": a dotted quad that is a version, not a host.
VERSION_CONTEXT = re.compile(
    r"(?i)(?:\bv|version|ver\.?|release|rel\.?|build|firmware|fw|==|>=|<=|~=|\^|~)[ \t:]*$"
)

# A phone number written as bare digits needs one of these words shortly before it.
PHONE_CONTEXT = re.compile(
    r"(?i)(?:\b(?:tel|phone|call|cell|mobile|mob|sms|fax|whats ?app|ring|dial|number|contact"
    r"|reach)\w*)\W{0,12}$"
)
# Seven or more digits possibly broken up by separators: cheap gate before libphonenumber.
PHONE_GATE = re.compile(r"\d(?:[ \t().\/-]{0,3}\d){6,}")
INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+\d[\d \t().-]{6,20}\d(?![\w])")
