"""PatternScrubber, one pattern family at a time: what it must catch and the look-alikes it must
leave alone. All values are fake: test card numbers, documentation IBANs, 555/drama numbers."""

from __future__ import annotations

import socket

import pytest

from adapters.privacy.scrubber import PatternScrubber, normalise
from domain.ports import Scrubber
from domain.privacy import KINDS, ScrubResult

SCRUBBER: Scrubber = PatternScrubber()


def scrub(text: str) -> ScrubResult:
    return SCRUBBER.scrub(text)


def assert_caught(text: str, value: str, kind: str) -> None:
    result = scrub(text)
    assert kind in {finding.kind for finding in result.findings}, result
    assert value not in result.text, result.text
    assert f"<{kind}>" in result.text


def assert_kept(text: str) -> None:
    result = scrub(text)
    assert result.findings == (), result.findings
    assert result.text == normalise(text)


# --- e-mail --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ping jane.doe@example.com when green", "jane.doe@example.com"),
        ('git config user.email "dev.ops+ci@example.org"', "dev.ops+ci@example.org"),
        ("Author: Sam <sam.rivera@mail.example.co.uk>", "sam.rivera@mail.example.co.uk"),
        ("recipient=bounce_test-1@example.io,", "bounce_test-1@example.io"),
        ("mailto:billing@example.com?subject=x", "billing@example.com"),
    ],
)
def test_email_is_caught(text: str, value: str) -> None:
    assert_caught(text, value, "EMAIL")


@pytest.mark.parametrize(
    "text",
    [
        "git clone git@github.com:acme/buddy.git",
        "npm i lodash@4.17.21",
        "docker pull ghcr.io/acme/buddy@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0",
        '@app.route("/users/<int:user_id>")',
        "matrix = a @ b.T",
        "ssh -p 2222 deploy@bastion",
        "let re = /^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}$/i;",
    ],
)
def test_email_look_alikes_are_kept(text: str) -> None:
    assert_kept(text)


def test_slack_mailto_markup_is_replaced_whole() -> None:
    result = scrub("<mailto:priya.k@example.com|priya.k@example.com> can you review?")
    assert result.text == "<EMAIL> can you review?"
    assert [finding.kind for finding in result.findings] == ["EMAIL"]


def test_slack_tel_markup_is_replaced_whole() -> None:
    assert scrub("ring <tel:+12025550143|202-555-0143>").text == "ring <PHONE>"


# --- phone ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("call me on +1 202-555-0143 after 6pm", "202-555-0143"),
        ("my cell is (415) 555-2671, text first", "555-2671"),
        ("phone: 415.555.2671", "415.555.2671"),
        ("UK office: +44 20 7946 0958", "7946 0958"),
        ("London desk 020 7946 0958", "7946 0958"),
        ("Berlin +49 30 12345678", "12345678"),
        ("German landline: 030 12345678", "12345678"),
        ("Paris: +33 1 23 45 67 89", "23 45 67 89"),
        ("appelle-moi au 01 23 45 67 89", "23 45 67 89"),
        ("Bangalore: +91 98765 43210", "98765 43210"),
        ("sms to +15125550182 failed", "+15125550182"),
        ("drama number +447700900123", "+447700900123"),
        ("tel: 0049 30 1234567", "1234567"),
        ("phone 2025550143", "2025550143"),
    ],
)
def test_phone_is_caught(text: str, value: str) -> None:
    assert_caught(text, value, "PHONE")


@pytest.mark.parametrize(
    "text",
    [
        "ts=1700000000 level=info",
        "max int32 2147483647",
        "invoice INV-2026-000417 total 1,249.00 EUR",
        "kernel: [ 1234.567890] eth0: link up",
        "E1123 07:08:41.123456   12345 reflector.go:138]",
        "created_at: 2026-11-23T07:08:41Z",
        "ISBN 978-0-13-468599-1",
        "order 20240115 shipped",
        "values 12 34 56 78 90",
        "Fibonacci: 1 1 2 3 5 8 13 21 34 55 89 144",
        "UTC+01:00",
        "+100500 upvotes",
        "processed 1,234,567 events in 00:04:12",
        "discord message id 1098765432109876543",
    ],
)
def test_phone_look_alikes_are_kept(text: str) -> None:
    assert_kept(text)


# --- IP addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("client: 198.51.100.23, server: api", "198.51.100.23"),
        ("the db lives at 10.12.4.31:5432", "10.12.4.31"),
        ("ssh deploy@203.0.113.42 -p 2222", "203.0.113.42"),
        ("GET http://198.51.100.7/admin", "198.51.100.7"),
        ("range 10.0.0.1-10.0.0.9", "10.0.0.1"),
        ("home IP 2001:db8:85a3::8a2e:370:7334, thanks", "2001:db8:85a3::8a2e:370:7334"),
        ("X-Real-IP: 2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:0db8"),
        ("ping [2001:db8::42]:443", "2001:db8::42"),
        ("inet6 fe80::1c2b:3dff:fe4e:5f60/64", "fe80::1c2b"),
        ("mapped ::ffff:192.0.2.1 here", "192.0.2.1"),
    ],
)
def test_ip_is_caught(text: str, value: str) -> None:
    assert_caught(text, value, "IP")


@pytest.mark.parametrize(
    "text",
    [
        # Decision: a dotted quad right after "version"/"v"/"==" is a version, not a host.
        "version 1.2.3.4 of the agent is out",
        "pin agent==1.2.3.4",
        "1.2.3.4.5 in the dependency graph",
        "OID 1.3.6.1.4.1.311.21.8",
        "999.1.1.1 is not an address",
        "upgraded node from v18.19.0 to v20.11.1",
        "Chrome/120.0.6099.109 Safari/537.36",
        # Loopback, unspecified and netmasks identify nobody.
        "proxy_pass http://127.0.0.1:8000;",
        "uvicorn app:main --host 0.0.0.0 --port 8000",
        "use ::1 for IPv6 localhost",
        "netmask 255.255.255.0",
        "open http://localhost:8080/docs",
        # Colon-separated look-alikes.
        "std::vector<int> v{1, 2, 3};",
        "time 12:34:56",
        "MAC 00:1a:2b:3c:4d:5e",
        "arn:aws:iam::123456789012:role/buddy-ci",
        "a::b::c",
        "ratio 16:9",
    ],
)
def test_ip_look_alikes_are_kept(text: str) -> None:
    assert_kept(text)


# --- payment cards -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("test card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111"),
        ("card 5555-5555-5555-4444 declined", "5555-5555-5555-4444"),
        ("amex: 3782 822463 10005", "3782 822463 10005"),
        ("card_number=4242424242424242", "4242424242424242"),
        ("diners 3056 930902 5904", "3056 930902 5904"),
        ("mastercard 2223 0031 2200 3222", "2223 0031 2200 3222"),
        ("<td>4012 8888 8888 1881</td>", "4012 8888 8888 1881"),
    ],
)
def test_card_is_caught(text: str, value: str) -> None:
    assert_caught(text, value, "CARD")


@pytest.mark.parametrize(
    "text",
    [
        'assert luhn_ok("4111111111111112") is False',  # fails Luhn
        "bad card 4242 4242 4242 4241 is rejected",  # fails Luhn
        "id 9999999999999995",  # passes Luhn, no card network starts with 9
        "id 1234567890123452",  # passes Luhn, no card network starts with 1
        "mixed 4111 1111-1111 1111 separators",
        "SKU 4006381333931",  # EAN-13
        "epoch millis 1700000000123",
        "uint64 max 18446744073709551615",
        "hex 4111111111111111abcdef00",
        "1.4111111111111111 is a float",
    ],
)
def test_card_look_alikes_are_kept(text: str) -> None:
    assert_kept(text)


# --- IBAN ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("please wire to GB82 WEST 1234 5698 7654 32 by Friday", "5698 7654 32"),
        ("IBAN: DE89 3704 0044 0532 0130 00 EUR", "0532 0130 00"),
        ("iban=FR1420041010050500013M02606", "FR1420041010050500013M02606"),
        ("refund to NL91ABNA0417164300 pls", "NL91ABNA0417164300"),
        ("Payee NO93 8601 1117 947", "8601 1117 947"),
        ('{"iban": "BE68539007547034"}', "BE68539007547034"),
    ],
)
def test_iban_is_caught(text: str, value: str) -> None:
    assert_caught(text, value, "IBAN")


def test_iban_is_cut_at_its_registered_length() -> None:
    assert scrub("IBAN DE89 3704 0044 0532 0130 00 EUR").text == "IBAN <IBAN> EUR"


@pytest.mark.parametrize(
    "text",
    [
        "GB82 WEST 1234 5698 7654 33 fails the checksum",
        "DE89370400440532013001",  # bad checksum
        "DE8937040044053201300",  # one character short
        "XX82WEST12345698765432",  # no such country
        "IBAN validation should use mod 97",
        "ulid 01ARZ3NDEKTSV4RRFFQ69G5FAV",
    ],
)
def test_iban_look_alikes_are_kept(text: str) -> None:
    assert_kept(text)


# --- US SSN --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SSN 219-09-9999 on the W-9", "219-09-9999"),
        ("| 1042 | Jordan | 312-48-9012 |", "312-48-9012"),
        ("social security number 123 45 6789", "123 45 6789"),
        ("SSN: 523456789 was logged", "523456789"),
        ("SSN on file: 212 67 8901", "212 67 8901"),
    ],
)
def test_ssn_is_caught(text: str, value: str) -> None:
    assert_caught(text, value, "SSN")


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "job 523456789 finished",  # nine bare digits need the word SSN
        "ticket 2026-1123-0042",
        "date 2026-11-23",
    ],
)
def test_ssn_look_alikes_are_kept(text: str) -> None:
    assert_kept(text)


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SLACK_BOT_TOKEN=xoxb-2048613571-4093857261039-Vq8xH3kLmN2pR7sT9wYzA4bC", "Vq8xH3"),
        ("user token xoxp-1234567890-0987654321-1357924680-8f3a9c2e1b7d", "8f3a9c2e1b7d"),
        ("xapp-1-A0123BCDE45-6789012345678-3f9a8c7e6d5b4a39 leaked", "3f9a8c7e6d5b4a39"),
        ("refresh xoxe-1-My0xLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MDEy", "My0xLTEy"),
        ("legacy xoxa-2-1111111111-2222222222-abcd1234ef5678", "abcd1234ef5678"),
        (
            "run('MTA4NzY1NDMyMTA5ODc2NTQzMg.GhX2aB.Kq9vT3mZpL8wR5yN1cF7jD4sH6gE0uIoPa2bQx')",
            "GhX2aB",
        ),
        ("key sk-proj-4fG7hJ2kL9mN3pQ8rS1tU6vW0xY5zA2bC7dE9f here", "4fG7hJ2kL9"),
        ("stripe sk_live_51Hx7QaLkP9mN3vB2cR8tY6uI0oP4aS7dF", "51Hx7QaLkP9"),
        ("rk_live_51Hx7QaZ8yX6wV4uT2sR0qP9oN7mL5kJ3hG in CI", "51Hx7QaZ8y"),
        ("found AKIAIOSFODNN7EXAMPLE in state", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R leaked", "1a2B3c4D5e6F"),
        ("gho_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa98", "Zy9Xw8Vu7"),
        ("github_pat_11ABCDEFG0a1b2c3d4e5f6_g7h8i9j0k1l2m3n4o5p6q7r8s9t0", "g7h8i9j0"),
        (
            "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxw",
            "eyJzdWIiOiIx",
        ),
        ("Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a"),
        ("Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1lMTIz", "YWxhZGRpbjpv"),
        ('password = "hunter2-correct-horse"', "hunter2"),
        ("API_KEY: a8f5f167f44f4964e6c998dee827110c", "a8f5f167"),
        ("export TOKEN=3b9d2a8f7e1c8f3a9c2e1b7d4f6a0e5c", "3b9d2a8f"),
        ("mysql -u root --password=R00tP@ssw0rd!", "R00tP@ssw0rd"),
        ("ALTER USER buddy WITH PASSWORD 'n3wP4ss-2026';", "n3wP4ss"),
        ("curl -u admin:S3cretAdm1n https://jenkins.example.com", "S3cretAdm1n"),
        (
            "SLACK_WEBHOOK=https://hooks.slack.com/services/T0A1B2C3D/B4E5F6G7H/qW3eR5tY7uI9",
            "qW3eR5",
        ),
    ],
)
def test_secret_is_caught(text: str, value: str) -> None:
    assert_caught(text, value, "SECRET")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('password = "hunter2-correct-horse"', 'password = "<SECRET>"'),
        ("API_KEY: a8f5f167f44f4964e6c998dee827110c", "API_KEY: <SECRET>"),
        ("export TOKEN=3b9d2a8f7e1c8f3a9c2e1b7d4f6a0e5c", "export TOKEN=<SECRET>"),
        ('  "client_secret": "Q7kQ2mN9pL4vR8sT1wX6",', '  "client_secret": "<SECRET>",'),
        (
            "?access_token=Zq8Lw2Xe4Rt6Yu8Io0Pa&expires_in=3599",
            "?access_token=<SECRET>&expires_in=3599",
        ),
        ("DB_PASSWORD=Tr0ub4dor&3", "DB_PASSWORD=<SECRET>"),
    ],
)
def test_assignment_keeps_the_name_and_replaces_the_value(text: str, expected: str) -> None:
    assert scrub(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pass@example.com/x", "https://user:<SECRET>@example.com/x"),
        ("postgres://buddy:S3cr3t@db:5432/buddy", "postgres://buddy:<SECRET>@db:5432/buddy"),
        ("redis://:hunter2hunter2@cache:6379/0", "redis://:<SECRET>@cache:6379/0"),
        (
            "mongodb+srv://admin:p%40ss@c0.example.net/t",
            "mongodb+srv://admin:<SECRET>@c0.example.net/t",
        ),
    ],
)
def test_url_password_is_the_only_part_replaced(text: str, expected: str) -> None:
    result = scrub(text)
    assert result.text == expected
    assert [finding.kind for finding in result.findings] == ["SECRET"]


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com/path?x=1",
        "https://example.com:8443/api/v2/items?id=42&sort=-created_at",
        "postgres://localhost:5432/buddy_dev",
        "postgresql+psycopg://postgres@/test_db?host=/tmp/pg",
        'url = f"postgresql://{user}:{password}@{host}:{port}/{db}"',
        "DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app",
        "token = tokenizer.encode(text)[:512]",
        'password = getpass.getpass("Password: ")',
        'api_key = os.environ["OPENAI_API_KEY"]',
        "secret = settings.SECRET_KEY",
        "token: str | None = None",
        "max_tokens=4096",
        "UPDATE users SET password_hash = $1 WHERE id = $2",
        "token_url: https://oauth2.example.com/token",
        "session_token_ttl = 3600",
        "SECRET_NAME=prod/buddy/db",
        'password = "********"',
        "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
        'token = "<your-token-here>"',
        "if token == expected_token: return True",
        "Authorization: Bearer <token>",
        'curl -u "$USER:$TOKEN" https://api.example.com',
        "sudo -u deploy:deploy ls",
        "sk-learn? you mean scikit-learn",
        "task-runner-0123456789abcdefghij started",
        "AKIA prefix means long-term IAM user key",
        "xoxb- tokens are bot tokens",
        "JWTs start with eyJ",
        "the password reset email is not being sent",
        "passwordless login via magic link",
        "-----BEGIN PUBLIC KEY-----",
        # Hashes, ids and colours.
        "commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        "sha256 = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "request_id=123e4567-e89b-12d3-a456-426614174000",
        "color: #ff00aa; background: #0a0a0a;",
        "fingerprint SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
    ],
)
def test_secret_look_alikes_are_kept(text: str) -> None:
    assert_kept(text)


def test_multi_line_pem_block_becomes_one_placeholder() -> None:
    text = (
        "here is the key:\n"
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEowIBAAKCAQEA7bq3fakefakefakeFAKEkeyDATA0123456789abcdefABCDEFGH\n"
        "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n"
        "-----END RSA PRIVATE KEY-----\n"
        "rotate it please"
    )
    result = scrub(text)
    assert result.text == "here is the key:\n<SECRET>\nrotate it please"
    assert [finding.kind for finding in result.findings] == ["SECRET"]


def test_escaped_pem_in_json_and_truncated_pem_are_caught() -> None:
    escaped = (
        '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0B'
        '\\n-----END PRIVATE KEY-----\\n"'
    )
    assert scrub(escaped).text == '"private_key": "<SECRET>\\n"'
    truncated = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\nthen I gave up"
    )
    assert scrub(truncated).text == "<SECRET>\nthen I gave up"


# --- obfuscation, spans, line structure ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "normalised_value"),
    [
        ("user ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ signed up", "EMAIL", "john@example.com"),
        ("contact ops\u200b@example.com", "EMAIL", "ops@example.com"),
        ("card ４１１１ １１１１ １１１１ １１１１", "CARD", "4111 1111 1111 1111"),
        ("card 4111\u00ad1111\u00ad1111\u00ad1111", "CARD", "4111111111111111"),
        ("xoxb\u200b-2048613571-4093857261039-Vq8xH3kLmN2pR7sT9w", "SECRET", "xoxb-2048613571"),
        ("ping 203.0.113.\u200d42", "IP", "203.0.113.42"),
        ("Ｔｅｌ： ＋４９ ３０ １２３４５６７８", "PHONE", "+49 30 12345678"),
        ("ｐａｓｓｗｏｒｄ＝Ｈｕｎｔｅｒ２０２６！", "SECRET", "Hunter2026!"),
        ("iban\ufeff GB82\u2060WEST12345698765432", "IBAN", "GB82WEST12345698765432"),
    ],
)
def test_obfuscated_values_are_caught_and_spans_index_the_normalised_text(
    text: str, kind: str, normalised_value: str
) -> None:
    result = scrub(text)
    normalised = normalise(text)
    assert [finding.kind for finding in result.findings] == [kind]
    finding = result.findings[0]
    assert normalised_value in normalised[finding.start : finding.end] or (
        normalised[finding.start : finding.end] in normalised_value
    )
    assert result.text == normalised[: finding.start] + f"<{kind}>" + normalised[finding.end :]


def test_zero_width_characters_are_removed_from_benign_text() -> None:
    result = scrub("hello\u200b world\u00ad!\ufeff")
    assert result.text == "hello world!"
    assert result.clean


def test_findings_carry_kind_and_span_but_never_the_value() -> None:
    text = "mail jane.doe@example.com, card 4111 1111 1111 1111, ip 198.51.100.23"
    result = scrub(text)
    assert [finding.kind for finding in result.findings] == ["EMAIL", "CARD", "IP"]
    assert all(finding.kind in KINDS for finding in result.findings)
    for finding in result.findings:
        assert "example" not in repr(finding)
        assert "4111" not in repr(finding)
    assert [text[f.start : f.end] for f in result.findings] == [
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "198.51.100.23",
    ]


def test_line_structure_is_preserved() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "/app/pay.py", line 88, in charge',
        "    charge(card='4111 1111 1111 1111', email='jane@example.com')",
        "ValueError: declined for +1 202-555-0143 from 198.51.100.23",
        "",
        "\tconfig: password = 'Tr0ub4dor&3'",
        "done at 2026-11-23T07:08:41Z, commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    ]
    result = scrub("\n".join(lines))
    out = result.text.split("\n")
    assert len(out) == len(lines)
    assert out[0:2] == lines[0:2]
    assert out[2] == "    charge(card='<CARD>', email='<EMAIL>')"
    assert out[3] == "ValueError: declined for <PHONE> from <IP>"
    assert out[4:] == ["", "\tconfig: password = '<SECRET>'", lines[6]]


def test_crlf_line_endings_survive() -> None:
    assert scrub("a\r\nmail x@example.com\r\n").text == "a\r\nmail <EMAIL>\r\n"


def test_empty_and_plain_text_are_untouched() -> None:
    assert scrub("") == ScrubResult(text="", findings=())
    assert_kept("LGTM 👍 ship it")


def test_scrubbing_never_opens_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the scrubber tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    result = PatternScrubber().scrub("mail x@example.com from 198.51.100.23 or +1 202-555-0143")
    assert result.text == "mail <EMAIL> from <IP> or <PHONE>"
