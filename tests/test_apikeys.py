import hashlib

import pytest

from aiservice.apikeys import generate_key, hash_key, key_from_authorization, key_id_of
from aiservice.errors import Unauthenticated


def test_generated_keys_have_the_client_prefix_and_are_unique():
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(key.startswith("cf-") and len(key) >= 40 for key in keys)
    assert all(key_from_authorization(f"Bearer {key}") == key for key in keys)


def test_keys_are_stored_as_sha384_hex():
    assert hash_key("cf-abc12345") == hashlib.sha384(b"cf-abc12345").hexdigest()
    assert len(hash_key("cf-abc12345")) == 96
    assert key_id_of(hash_key("cf-abc12345")) == hash_key("cf-abc12345")[:16]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("cf-abcdefgh", "malformed Authorization"),
        ("Basic cf-abcdefgh", "malformed Authorization"),
        ("Bearer sk-abcdefgh", "malformed API key"),
        ("Bearer cf-short", "malformed API key"),
        ("Bearer cf-abc defgh", "malformed Authorization"),
        ("Bearer cf-abcdefgh\x00", "malformed API key"),
    ],
)
def test_bad_authorization_headers_say_what_is_wrong(header, reason):
    with pytest.raises(Unauthenticated, match=reason):
        key_from_authorization(header)


def test_the_codeflash_clients_header_is_accepted():
    assert key_from_authorization("Bearer cf-stubkey-1234") == "cf-stubkey-1234"
    assert key_from_authorization("bearer  cf-stubkey-1234 ") == "cf-stubkey-1234"
