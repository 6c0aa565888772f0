"""The providers' own signature algorithms against their published test vectors
(PROVIDERS.md T1: twilio-python's RequestValidator tests; T3: a vector from the RFC 8032
TEST 1 key), and the attacks each verifier must refuse."""

from __future__ import annotations

import hashlib

import pytest
from nacl.signing import SigningKey

from ingest.telnyx import verify_signature
from ingest.twilio import compute_signature, signature_valid
from recstore.errors import Forbidden

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
          "To": "+18005551212", "Caller": "+14158675309"}


def test_twilio_vector_signature() -> None:
    assert compute_signature(TOKEN, URL, PARAMS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature_valid(TOKEN, URL, PARAMS.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


@pytest.mark.parametrize(("url", "signature"), [
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),  # +:443
    ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),   # +:80
    ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
])
def test_twilio_vector_port_variants(url: str, signature: str) -> None:
    assert signature_valid(TOKEN, url, PARAMS.items(), signature)


def test_twilio_vector_repeated_parameters_are_deduplicated_and_sorted() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
              ("Digits", "1234"), ("Digits", "1234")]
    assert compute_signature(TOKEN, URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_twilio_vector_json_body_hash() -> None:
    body = b'{"property": "value", "boolean": true}'
    digest = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert hashlib.sha256(body).hexdigest() == digest
    url = f"{URL}&bodySHA256={digest}"
    assert signature_valid(TOKEN, url, [], "a9nBmqA0ju/hNViExpshrM61xv4=", json_body=body)
    assert not signature_valid(TOKEN, url, [], "a9nBmqA0ju/hNViExpshrM61xv4=",
                               json_body=body.replace(b"value", b"other"))


@pytest.mark.parametrize("tamper", ["token", "param", "extra", "url", "signature"])
def test_twilio_refuses_any_change(tamper: str) -> None:
    token, url, params, signature = TOKEN, URL, dict(PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    if tamper == "token":
        token = "54321"
    elif tamper == "param":
        params["From"] = "+46700000000"
    elif tamper == "extra":
        params["RecordingUrl"] = "http://169.254.169.254/"
    elif tamper == "url":
        url = url.replace("foo=1", "foo=2")
    else:
        signature = "RSOYDt4T1cUTdK1PDd93/VVr8B9="
    assert not signature_valid(token, url, params.items(), signature)


# PROVIDERS.md T3
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC_B64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
TIMESTAMP = 1700000000
BODY = (b'{"data":{"event_type":"call.recording.saved","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",'
        b'"occurred_at":"2018-02-02T22:25:27.521992Z","payload":{"call_leg_id":'
        b'"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","call_session_id":'
        b'"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","channels":"single","recording_urls":'
        b'{"mp3":"http://example.com/recording.mp3","wav":"http://example.com/recording.wav"}},'
        b'"record_type":"event"}}')
SIGNATURE = ("NFSLWIidhuVGdk9n/VEWImlZexXpxFdZcpW4J+hZ/cL0HZnbQhA7T4OuE9QspyN0no5C5tU6bQHby8mnkgAPAQ==")
HEADERS = {"telnyx-signature-ed25519": SIGNATURE, "telnyx-timestamp": str(TIMESTAMP)}


def test_telnyx_vector_key_is_rfc8032_test_1() -> None:
    key = SigningKey(SEED)
    assert bytes(key.verify_key).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert key.sign(b"").signature.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701"
        "cf9b46bd25bf5f0595bbe24655141438e7a100b")


def test_telnyx_vector_verifies_at_its_time() -> None:
    verify_signature(PUBLIC_B64, HEADERS, BODY, now=TIMESTAMP)
    verify_signature(PUBLIC_B64, HEADERS, BODY, now=TIMESTAMP + 300)
    verify_signature(PUBLIC_B64, HEADERS, BODY, now=TIMESTAMP - 300)


@pytest.mark.parametrize("now", [TIMESTAMP + 301, TIMESTAMP - 301, 1_800_000_000])
def test_telnyx_tolerance_is_300_seconds_either_way(now: int) -> None:
    with pytest.raises(Forbidden):
        verify_signature(PUBLIC_B64, HEADERS, BODY, now=now)


@pytest.mark.parametrize("tamper", ["body", "timestamp", "key", "signature", "missing",
                                    "garbage", "short"])
def test_telnyx_refuses_any_change(tamper: str) -> None:
    headers, body, key = dict(HEADERS), BODY, PUBLIC_B64
    if tamper == "body":
        body = BODY.replace(b"single", b"dual")
    elif tamper == "timestamp":
        headers["telnyx-timestamp"] = str(TIMESTAMP + 1)
    elif tamper == "key":
        key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    elif tamper == "signature":
        headers["telnyx-signature-ed25519"] = SIGNATURE.replace("NFSL", "NFSM")
    elif tamper == "missing":
        del headers["telnyx-signature-ed25519"]
    elif tamper == "garbage":
        headers["telnyx-signature-ed25519"] = "not base64 at all!"
    else:
        headers["telnyx-signature-ed25519"] = "AAAA"
    with pytest.raises(Forbidden):
        verify_signature(key, headers, body, now=TIMESTAMP + 1)
