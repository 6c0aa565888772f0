"""Fuzzing every parser that meets untrusted bytes (hypothesis, seeded from
tests/fuzz_corpus/): each either succeeds with a sane result or raises its documented
error, never anything else. The suite runs a short pass; `make fuzz` a long one."""

from __future__ import annotations

import base64
import time
from typing import Any
from uuid import UUID

import pytest
from aiohttp.test_utils import make_mocked_request
from fuzzing import FUZZ, mutated, seeds, text_of
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict
from nacl.signing import SigningKey

from api.recordings import requested_range
from crypto import CryptoError, StreamDecryptor, normalize_phone
from crypto.stream_format import CHUNK_SIZE, HEADER_SIZE
from ingest import upload_signature
from ingest.adapter import Delivery
from ingest.elks import ElksAdapter
from ingest.telnyx import TelnyxAdapter, verify_signature
from ingest.twilio import TwilioAdapter
from ingest.upload import incoming_from_headers
from recstore.accounts.providers import ProviderAccount
from recstore.errors import Forbidden, Invalid, RangeNotSatisfiable, Unauthorized
from recstore.recordings.read import choose_slice

CUSTOMER = UUID("11111111-1111-4111-8111-111111111111")
RECORDING = UUID("22222222-2222-4222-8222-222222222222")
KEY = bytes(range(32))
STREAM_SIZES = [0, 1, 100, 3000, CHUNK_SIZE + 100]  # the plaintexts of fuzz_corpus/stream
URL = "http://127.0.0.1:8080/webhooks/provider/11111111-1111-4111-8111-111111111111"
TELNYX_KEY = SigningKey(bytes(32))


def _plaintext(size: int) -> bytes:
    return bytes((i * 7) % 251 for i in range(size))


def _headers(block: bytes) -> CIMultiDict[str]:
    """Header lines "Name: value" as aiohttp decodes them (UTF-8, surrogateescape)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for line in text_of(block).split("\n"):
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers.add(name.strip(), value.strip())
    return headers


def _account(provider: str, **credentials: str) -> ProviderAccount:
    return ProviderAccount(CUSTOMER, provider, credentials, None, False)


def _delivery(body: bytes, headers: dict[str, str] | None = None,
              query: dict[str, str] | None = None) -> Delivery:
    return Delivery(URL, headers or {}, body, query or {})


# -- ciphertext ------------------------------------------------------------------------------

@FUZZ
@given(data=mutated(seeds("stream"), max_size=CHUNK_SIZE * 2 + 200),
       size=st.one_of(st.sampled_from(STREAM_SIZES), st.integers(0, 3 * CHUNK_SIZE)),
       cut=st.integers(1, 70_000))
def test_stream_decoder_opens_only_what_was_sealed(data: bytes, size: int, cut: int) -> None:
    try:
        decryptor = StreamDecryptor(KEY, data[:HEADER_SIZE], customer_id=CUSTOMER,
                                    recording_id=RECORDING, plaintext_size=size)
        body = data[HEADER_SIZE:]
        out = b"".join(decryptor.update(body[i:i + cut]) for i in range(0, len(body), cut))
        out += decryptor.finalize()
    except CryptoError:
        return
    assert out == _plaintext(size)  # anything that opens is exactly what was sealed


# -- Range -------------------------------------------------------------------------------------

@FUZZ
@given(value=mutated(seeds("range"), max_size=200), total=st.integers(0, 10**7))
@example(value=b"bytes=-0", total=1000)
def test_range_header_gives_a_slice_inside_the_file_or_416(value: bytes, total: int) -> None:
    request = make_mocked_request("GET", "/", headers={"Range": value.decode("latin-1")})
    try:
        chosen = choose_slice(total, requested_range(request))
    except RangeNotSatisfiable as exc:
        assert exc.status == 416
        return
    assert 0 <= chosen.start <= chosen.end < max(total, 1)
    assert chosen.length == (chosen.end - chosen.start + 1 if total else 0)


# -- E.164 -------------------------------------------------------------------------------------

@FUZZ
@given(value=st.one_of(mutated(seeds("phone"), max_size=64).map(text_of),
                       st.text(max_size=64)))
def test_phone_normaliser_gives_e164_or_value_error(value: str) -> None:
    try:
        number = normalize_phone(value)
    except ValueError:
        return
    assert number.startswith("+") and number[1:].isdigit() and number[1] != "0"
    assert 8 <= len(number) <= 16
    assert normalize_phone(number) == number  # idempotent


# -- the signed upload's headers -------------------------------------------------------------

@FUZZ
@given(block=mutated(seeds("upload_headers"), max_size=2048), skew=st.integers(-400, 400))
def test_signed_upload_headers_parse_or_401_422(block: bytes, skew: int) -> None:
    headers = _headers(block)
    now = float(upload_signature.unix_seconds(headers.get("X-Recstore-Timestamp", "")) or
                time.time()) + skew
    try:
        offered = upload_signature.parse_offered(headers, now=now, tolerance=300)
    except Unauthorized:
        offered = None
    if offered is not None:  # no fuzzed MAC matches: refused, whatever the headers hold
        with pytest.raises((Unauthorized, Invalid)):
            upload_signature.verify(b"whsec_fuzz", CUSTOMER, offered, headers)
    try:
        incoming = incoming_from_headers(CUSTOMER, headers)
    except Invalid:
        return
    assert incoming.kind in ("call", "voicemail")
    for value in (incoming.caller_number, incoming.caller_name, incoming.callee_number,
                  incoming.provider_recording_id):
        assert value is None or (isinstance(value, str) and len(value) <= 200)
        assert value is None or value.encode("utf-8")  # valid UTF-8: sealable


# -- providers ---------------------------------------------------------------------------------

def _parse_or_invalid(adapter: Any, delivery: Delivery) -> None:
    try:
        spec = adapter.parse(delivery)
    except Invalid:
        return
    if spec is not None:
        assert isinstance(spec.provider_recording_id, str) and spec.provider_recording_id
        assert all(isinstance(k, str) for k in (*spec.public, *spec.private))


@FUZZ
@given(body=mutated(seeds("twilio")), signature=st.text(max_size=60),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json"]))
def test_twilio_callbacks_verify_or_403_parse_or_422(body: bytes, signature: str,
                                                    content_type: str) -> None:
    delivery = _delivery(body, {"X-Twilio-Signature": signature, "Content-Type": content_type})
    with pytest.raises(Forbidden):
        TwilioAdapter().verify(delivery, _account("twilio", auth_token="t"), now=time.time())
    _parse_or_invalid(TwilioAdapter(), _delivery(body))


@FUZZ
@given(body=mutated(seeds("elks")), token=st.text(max_size=40))
def test_46elks_callbacks_verify_or_403_parse_or_422(body: bytes, token: str) -> None:
    delivery = _delivery(body, query={"token": token})
    with pytest.raises(Forbidden):
        ElksAdapter().verify(delivery, _account("46elks", url_token="right-token"),
                             now=time.time())
    _parse_or_invalid(ElksAdapter(), delivery)


@FUZZ
@given(body=mutated(seeds("telnyx")), signature=st.text(max_size=100),
       timestamp=st.one_of(st.text(max_size=30), st.integers(0, 2**40).map(str)))
def test_telnyx_events_verify_or_403_parse_or_422(body: bytes, signature: str,
                                                 timestamp: str) -> None:
    public = base64.b64encode(bytes(TELNYX_KEY.verify_key)).decode()
    headers = {"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp}
    with pytest.raises(Forbidden):
        verify_signature(public, headers, body, now=time.time())
    _parse_or_invalid(TelnyxAdapter(), _delivery(body))
