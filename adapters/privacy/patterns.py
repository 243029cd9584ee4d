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
    r"|gl(?:pat|dt|rt|ptt|ft|soat|cbt|imt|oas|agent)-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|GR1348941[A-Za-z0-9_-]{20,}"  # GitLab runner registration
    r"|npm_[A-Za-z0-9]{36}"
    r"|pypi-[A-Za-z0-9_-]{16,}"
    r"|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"  # SendGrid
    r"|(?:SK|AC)[0-9a-fA-F]{32}(?![A-Za-z0-9])"  # Twilio API key / account SID
    r"|[0-9a-f]{32}-us\d{1,2}(?![\w-])"  # Mailchimp
    r"|sq0(?:atp|csp|idp)-[A-Za-z0-9_-]{22,}"  # Square
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|AKCp[A-Za-z0-9]{40,}"  # JFrog Artifactory
    r"|do[opr]_v1_[0-9a-f]{64}"  # DigitalOcean
    r"|shp(?:at|ss|ca|pa)_[0-9a-fA-F]{32}"  # Shopify
    r"|dckr_pat_[A-Za-z0-9_-]{20,}"
    r"|sntrys_[A-Za-z0-9_=+/-]{20,}"  # Sentry
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|ya29\.[0-9A-Za-z_-]{20,}"  # Google OAuth access token
    r"|GOCSPX-[A-Za-z0-9_-]{20,}"  # Google OAuth client secret
    r")"
)

# A bot token, also inside the API's URL path (https://api.telegram.org/bot<token>/...).
TELEGRAM_BOT_TOKEN = re.compile(r"(?<!\d)\d{8,10}:AA[A-Za-z0-9_-]{32,33}(?![A-Za-z0-9_-])")

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
    r"(?i)(?:\bbearer|\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:token|basic)|\bbasic)[ \t]+"
    r"(?P<value>[A-Za-z0-9._~+/-]{12,}=*)"
)

# name = value, name: value, "name": "value", --name=value, PASSWORD 'value'. The keyword must end
# the name (`max_tokens`, `password_hash`, `token_url` are not secrets), bar a few suffixes.
SECRET_KEYWORD = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token"
    r"|api[_-]?key|apikey|(?:access|secret|private|encryption|signing|master|auth|client|app"
    r"|account|storage|shared|consumer|session|webhook|hmac)[_-]?key)"
)
SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?<![\w.-])(?P<name>[\w.-]*?" + SECRET_KEYWORD + r"(?:[_.-](?:key|base|value))*)"
    r"[\"']?\]?(?:[ \t]*(?::=|=>|\|\|=|\?\?=|=(?!=)|:(?!:))[ \t]*|[ \t]+(?=[\"']))"
    r"(?:(?P<quote>[\"'`])(?P<quoted>[^\"'`\n]+)(?P=quote)|(?P<bare>[^\s\"'`,;)}\]]+))"
)

_SECRET_NAME = r"[\w.-]*?" + SECRET_KEYWORD + r"(?:[_.-](?:key|base|value))*"
# define('DB_PASSWORD', 'value'), ("api_key", "value"), getenv("TOKEN", "default-value"); no
# spaces in the value, which would be a label (("password", "Mot de passe")).
SECRET_PAIR = re.compile(
    r"(?i)[\"'](?P<name>" + _SECRET_NAME + r")[\"'][ \t]*,[ \t]*"
    r"(?P<quote>[\"'])(?P<quoted>[^\"'\s]+)(?P=quote)"
)
# <password>value</password>
XML_SECRET = re.compile(r"(?i)<(?P<name>" + _SECRET_NAME + r")>(?P<bare>[^<\s]+)</(?P=name)>")
# --password value, --api-key 'value' (the `=` form is a SECRET_ASSIGNMENT).
CLI_SECRET_OPTION = re.compile(
    r"(?i)(?<![\w-])--(?P<name>" + _SECRET_NAME + r")[ \t]+"
    r"(?:(?P<quote>[\"'])(?P<quoted>[^\"'\n]+)(?P=quote)|(?P<bare>[^\s\"'`|;&]+))"
)
_FLAG_VALUE = r"(?:(?P<quote>[\"'])(?P<quoted>[^\"'\n]+)(?P=quote)|(?P<bare>[^\s\"'`|;&]+))"
# The short password flags of common clients: mysql -pPASSWORD (glued), sshpass -p PASSWORD,
# redis-cli -a PASSWORD, az login -p PASSWORD.
CLI_PASSWORD_FLAGS = (
    re.compile(
        r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n|;&]*?[ \t]-p" + _FLAG_VALUE
    ),
    re.compile(r"\bsshpass[ \t]+(?:-\w+[ \t]+)*?-p[ \t]*" + _FLAG_VALUE),
    re.compile(r"\bredis-cli\b[^\n|;&]*?[ \t]-a[ \t]+" + _FLAG_VALUE),
    re.compile(r"\baz[ \t]+login\b[^\n|;&]*?[ \t]-p[ \t]+" + _FLAG_VALUE),
)
# key="ApiKey" value="...", name="password" value="..." (.NET appSettings, Spring, HTML forms).
SECRET_ATTRIBUTE_PAIR = re.compile(
    r"(?i)\b(?:key|name)=[\"'](?P<name>" + _SECRET_NAME + r")[\"'][ \t]+value="
    r"(?P<quote>[\"'])(?P<quoted>[^\"'\n]+)(?P=quote)"
)
# <entry key="password">value</entry> (java.util.Properties XML), <add name="token">value</add>.
SECRET_KEYED_ELEMENT = re.compile(
    r"(?i)<\w+[ \t]+(?:key|name)=[\"'](?P<name>" + _SECRET_NAME + r")[\"'][ \t]*>(?P<bare>[^<\s]+)<"
)
# auth=("user", "password"), HTTPBasicAuth('user', 'password'): basic-auth pairs in code.
AUTH_PAIR = re.compile(
    r"\b(?:auth|basic_?auth|HTTPBasicAuth|HTTPDigestAuth|BasicAuth|DigestAuth)[ \t]*[=(][ \t]*"
    r"\(?[ \t]*[\"'][^\"'\n]+[\"'][ \t]*,[ \t]*(?P<quote>[\"'])(?P<quoted>[^\"'\n]+)(?P=quote)"
)
# .netrc: machine HOST login USER password PASSWORD.
NETRC_PASSWORD = re.compile(r"\blogin[ \t]+\S+[ \t]+password[ \t]+(?P<bare>\S+)")
# echo 'PASSWORD' | docker login --password-stdin: a literal piped into a login.
PIPED_PASSWORD = re.compile(
    r"\becho[ \t]+(?:-n[ \t]+)?"
    r"(?:(?P<quote>[\"'])(?P<quoted>[^\"'\n]+)(?P=quote)|(?P<bare>[^\s|]+))"
    r"[ \t]*\|[^|\n]*--password-stdin"
)
# "my password is X", "the staging token was X": the value after the verb.
PROSE_SECRET = re.compile(
    r"(?i)\b(?P<name>pass(?:word|wd|phrase)|pwd|token|secret|api[ _-]?key)[ \t]+(?:is|was)"
    r"[ \t]*:?[ \t]*[\"'`]?(?P<bare>[^\s\"'`]+)"
)

# A value made of words, one of which names the secret (`db_password`, "API_KEY", 'myToken'),
# stands for it; `monkey` does not.
NAME_WORDS = re.compile(r"^[A-Za-z_-]+$")
NAME_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
SECRET_WORDS = frozenset(
    ("pass", "password", "passwd", "passphrase", "pwd", "secret", "token", "key", "apikey")
)

PASSWORD_NAME = re.compile(r"(?i)(?:pass(?:word|wd|phrase)?|pwd)$")

# Template syntax and masks that stand for a secret without being one.
PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:\$.*|\{.*|<.*>|%\(?\w*\)?s|\*+|x{3,}|\.{3}|…|sk-\.\.\.|null|none|nil|true|false"
    r"|undefined|changeme|redacted|\[redacted\]|your[_-].*|.*_here|example|dummy)$"
)
# A bare identifier or attribute access (`settings.SECRET_KEY`, `None`) is code, not a value.
CODE_REFERENCE = re.compile(r"^[A-Za-z_]+(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
# The humps of a camelCase or PascalCase name (`getAccessToken`: get, Access, Token).
NAME_HUMP = re.compile(r"[A-Z]+[a-z0-9]*|[a-z0-9]+")

# --- personal data -------------------------------------------------------------------------

SLACK_MAILTO = re.compile(r"<mailto:[^\s|>]+@[^\s|>]+(?:\|[^>\n]*)?>")
SLACK_TEL = re.compile(r"<tel:[^\s|>]+(?:\|[^>\n]*)?>")

# Combining marks (Devanagari vowel signs, Hebrew points, ...) that `\w` leaves out but that
# internationalised mailbox and domain names (RFC 6531, IDNA) are written with.
_MARKS = (
    r"\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    r"\u0900-\u0dff\u0e00-\u0eff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_LABEL = rf"[^\W_](?:[\w{_MARKS}-]{{0,61}}[\w{_MARKS}])?"
# Unicode local parts and domains; the top-level domain is letters or a punycode `xn--` label.
EMAIL = re.compile(
    rf"(?<![\w{_MARKS}.%+-])[^\W_][\w{_MARKS}.%+-]*@"
    rf"(?:{_LABEL}\.)+(?:[^\W\d_](?:[^\W\d_]|[{_MARKS}]){{1,62}}|(?i:xn--)[a-z0-9-]{{2,59}})"
    rf"(?![\w{_MARKS}-])"
)

# Grouped with spaces or dashes, or compact; upper or lower case (validated by mod 97).
IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){10,34}")

# 4-4-4-4 (up to 19 digits), 4-4-4 and 4-4-5 (12- and 13-digit Maestro), Amex/Diners 4-6-5 /
# 4-6-4, UATP 4-5-6, each with one kind of separator, or a run of digits.
CARD_CANDIDATE = re.compile(
    r"(?<![\w.,/+-])(?:\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,4}(?:(?P=sep)\d{1,3})?"
    r"|\d(?!\d))?"
    r"|\d{4}(?P<sep2>[ -])\d{6}(?P=sep2)\d{4,5}"
    r"|\d{4}(?P<sep3>[ -])\d{5}(?P=sep3)\d{6}"
    r"|\d{12,19})(?![\w-]|[.,/]\d)"
)
# Runs of 12, 13, 17 or 18 digits are mostly ids, timestamps and barcodes: they need a word such
# as "card" shortly before them to count.
CARD_CONTEXT = re.compile(
    r"(?i)(?:\b(?:card|cc|pan|visa|mastercard|maestro|amex|debit|credit|kort|karte|carte|tarjeta"
    r"|cart[aã]o)\w*)\W{0,12}$"
)

SSN_DASHED = re.compile(r"(?<![\w-])(?P<area>\d{3})-(?P<group>\d{2})-(?P<serial>\d{4})(?![\w-])")
# Without dashes nine digits are just a number, so these forms need the word "SSN" before them.
SSN_AFTER_KEYWORD = re.compile(
    r"(?i)\b(?:ssn|social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?)\b[^\d\n]{0,20}"
    r"(?P<value>(?P<area>\d{3})[ .-]?(?P<group>\d{2})[ .-]?(?P<serial>\d{4}))(?![\w-])"
)

# Not glued to a longer dotted number (1.2.3.4.5) or a suffix (-rc1); a range 10.0.0.1-10.0.0.9 is.
IPV4_CANDIDATE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d|-[A-Za-z])")
# Hex groups and at least two colons; an IPv4 tail covers ::ffff:192.0.2.1.
IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:])"
)
# "version 1.2.3.4", "v 10.0.0.1", "==1.2.3.4": a dotted quad that is a version, not a host.
VERSION_CONTEXT = re.compile(
    r"(?i)(?:\b(?:v|version|ver\.?|release|rel\.?|build|firmware|fw)|==|>=|<=|~=|\^|~)[ \t:]*$"
)

# A phone number written as bare digits needs one of these words shortly before it.
PHONE_CONTEXT = re.compile(
    r"(?i)(?:\b(?:tel|phone|call|cell|mobile|mob|sms|fax|whats ?app|ring|dial|number|contact"
    r"|reach)\w*)\W{0,12}$"
)
# Seven or more digits possibly broken up by separators: cheap gate before libphonenumber.
PHONE_GATE = re.compile(r"\d(?:[ \t().\/-]{0,3}\d){6,}")
INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+\d[\d \t().-]{6,20}\d(?![\w])")

# A phone number in a region outside the default ones needs one of these words before it.
# ("ring our Lisbon office reception on ...": up to six words may come between).
PHONE_STRONG_CONTEXT = re.compile(
    r"(?i)(?:\b(?:tel|phone|call|cell|mobile|mob|sms|fax|whats ?app|ring|dial|t[eé]l[eé]fono"
    r"|telefon|t[eé]l[eé]phone|t[eé]l|handy|m[oó]vil|celular)\w*)(?:\W+\w+){0,6}\W{0,12}$"
)
PHONE_CANDIDATE = re.compile(r"(?<![\w+])\(?\d[\d \t().\/-]{5,18}\d(?![\w])")

# --- crypto wallet addresses ---------------------------------------------------------------

# Bitcoin legacy and script addresses: base58, version 0 ("1...") or 5 ("3..."), checksummed.
BITCOIN_BASE58 = re.compile(r"(?<![A-Za-z0-9])[13][1-9A-HJ-NP-Za-km-z]{25,34}(?![A-Za-z0-9])")
# Bitcoin segwit (bech32) and taproot (bech32m) addresses.
BITCOIN_SEGWIT = re.compile(
    r"(?<![A-Za-z0-9])(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,87}(?![A-Za-z0-9])"
)
# Ethereum (and other EVM chains): 0x and 20 bytes of hex.
ETHEREUM_ADDRESS = re.compile(r"(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![A-Za-z0-9])")
