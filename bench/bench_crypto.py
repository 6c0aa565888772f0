"""Throughput, memory and range cost of crypto's streaming audio format.

Run from the repository root:  .venv/bin/python bench/bench_crypto.py

Compares StreamEncryptor/StreamDecryptor fed in upload-sized pieces with a bare loop of
nacl.bindings XChaCha20-Poly1305 calls over the same 64 KiB chunks (the ceiling), measures
the peak Python memory of a streaming encryption whose input is produced piece by piece,
and decrypts a 1 KiB range from the middle of a 1 GiB stream.
"""

import functools
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import nacl
import nacl.bindings as sodium

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crypto
from crypto import CHUNK_SIZE, HEADER_SIZE, StreamDecryptor, StreamEncryptor

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
TOTAL = 256 * MiB
PIECES = [16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB]
REPEATS = 3
KEY = crypto.new_data_key()
CUSTOMER = UUID("11111111-1111-4111-8111-111111111111")
RECORDING = UUID("22222222-2222-4222-8222-222222222222")
BLOCK = os.urandom(MiB)  # input is cut from this block on demand, never held whole


def pieces(total: int, size: int) -> Iterator[bytes]:
    """`total` bytes as fresh bytes objects of `size`, like a network reader delivers."""
    for offset in range(0, total, size):
        start = offset % MiB
        yield BLOCK[start:start + min(size, total - offset)]


def best_seconds(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def mb_per_s(seconds: float, size: int = TOTAL) -> float:
    return size / seconds / 1e6


def stream_encrypt(plain_pieces: list[bytes]) -> None:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    for piece in plain_pieces:
        enc.update(piece)
    enc.finalize()


def stream_decrypt(cipher_pieces: list[bytes], header: bytes) -> None:
    dec = StreamDecryptor(KEY, header, customer_id=CUSTOMER, recording_id=RECORDING,
                          plaintext_size=TOTAL)
    for piece in cipher_pieces:
        dec.update(piece)
    dec.finalize()


def bare_encrypt(chunks: list[bytes], aad: bytes, prefix: bytes) -> None:
    encrypt = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt
    for index, chunk in enumerate(chunks):
        encrypt(chunk, aad, prefix + index.to_bytes(5, "big"), KEY)


def bare_decrypt(sealed: list[bytes], aad: bytes, prefix: bytes) -> None:
    decrypt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt
    for index, chunk in enumerate(sealed):
        decrypt(chunk, aad, prefix + index.to_bytes(5, "big"), KEY)


AAD, PREFIX = bytes(74), bytes(19)


def bare_chunks() -> list[bytes]:
    return list(pieces(TOTAL, CHUNK_SIZE))


def bare_sealed() -> list[bytes]:
    return [sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        chunk, AAD, PREFIX + index.to_bytes(5, "big"), KEY)
        for index, chunk in enumerate(pieces(TOTAL, CHUNK_SIZE))]


def stream_ciphertext(size: int) -> tuple[bytes, list[bytes]]:
    encryptor = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    body = b"".join([*map(encryptor.update, pieces(TOTAL, MiB)), encryptor.finalize()])
    return encryptor.header, [body[i:i + size] for i in range(0, len(body), size)]


def measure(kind: str, size: int) -> float:
    """MB/s of one configuration. Inputs are cut beforehand, as for the bare loop."""
    if kind == "bare-encrypt":
        run = functools.partial(bare_encrypt, bare_chunks(), AAD, PREFIX)
    elif kind == "bare-decrypt":
        run = functools.partial(bare_decrypt, bare_sealed(), AAD, PREFIX)
    elif kind == "encrypt":
        run = functools.partial(stream_encrypt, list(pieces(TOTAL, size)))
    else:
        header, cipher_pieces = stream_ciphertext(size)
        run = functools.partial(stream_decrypt, cipher_pieces, header)
    return mb_per_s(best_seconds(run))


def measure_isolated(kind: str, size: int = CHUNK_SIZE) -> float:
    # A fresh interpreter per figure: glibc's heap trimming depends on what ran before
    # in the same process, which moved results by up to a factor of two.
    command = [sys.executable, __file__, "--measure", kind, str(size)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def throughput() -> list[str]:
    bare_enc, bare_dec = measure_isolated("bare-encrypt"), measure_isolated("bare-decrypt")
    rows = [f"| bare nacl.bindings loop, 64 KiB chunks | {bare_enc:.0f} | 100 % "
            f"| {bare_dec:.0f} | 100 % |"]
    for size in PIECES:
        enc, dec = measure_isolated("encrypt", size), measure_isolated("decrypt", size)
        rows.append(f"| StreamEncryptor/Decryptor, {size // KiB} KiB pieces | {enc:.0f} "
                    f"| {100 * enc / bare_enc:.0f} % | {dec:.0f} | {100 * dec / bare_dec:.0f} % |")
    return rows


def peak_memory() -> list[str]:
    rows = []
    for size in PIECES:
        tracemalloc.start()
        enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
        for piece in pieces(TOTAL, size):
            enc.update(piece)
        enc.finalize()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(f"| encrypt 256 MiB, {size // KiB} KiB pieces | {peak / KiB:.0f} KiB "
                    f"| {peak / CHUNK_SIZE:.1f} chunks |")
    return rows


def range_from_1gib() -> list[str]:
    size = GiB
    start = size // 2 - 512  # straddles a chunk boundary: the worst case
    plan = crypto.plan_range(start, start + KiB - 1, size)
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    kept, offset = bytearray(), HEADER_SIZE
    began = time.perf_counter()
    outputs = (enc.update(p) for p in pieces(size, MiB))
    for out in _chain(outputs, enc):
        lo, hi = max(offset, plan.cipher_start), min(offset + len(out), plan.cipher_end + 1)
        if lo < hi:
            kept += out[lo - offset:hi - offset]
        offset += len(out)
    encrypt_seconds = time.perf_counter() - began
    assert offset == crypto.ciphertext_size(size)
    dec = StreamDecryptor(KEY, enc.header, customer_id=CUSTOMER, recording_id=RECORDING,
                          plaintext_size=size, first_chunk=plan.first_chunk,
                          last_chunk=plan.last_chunk)
    began = time.perf_counter()
    plaintext = dec.update(bytes(kept))
    dec.finalize()
    result = plaintext[plan.skip:plan.skip + plan.length]
    range_seconds = time.perf_counter() - began
    assert result == _slice(start, KiB)
    return [
        f"| plaintext bytes {start}..{start + KiB - 1} of {size} | chunks "
        f"{plan.first_chunk}..{plan.last_chunk} | ciphertext read {len(kept)} B "
        f"| chunks_decrypted = {dec.chunks_decrypted} | {range_seconds * 1e6:.0f} us "
        f"(encrypting the 1 GiB stream took {encrypt_seconds:.2f} s) |"
    ]


def _chain(outputs: Iterator[bytes], enc: StreamEncryptor) -> Iterator[bytes]:
    yield from outputs
    yield enc.finalize()


def _slice(start: int, length: int) -> bytes:
    # Input is BLOCK repeated, so any slice is computable without the whole stream.
    doubled = BLOCK + BLOCK
    return doubled[start % MiB:start % MiB + length]


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    malloc = " ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("MALLOC_"))
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, PyNaCl {nacl.__version__}, "
            f"glibc malloc {malloc or 'defaults'}")


def main() -> None:
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"\nThroughput, {TOTAL // MiB} MiB, best of {REPEATS}, each figure in a fresh process"
          " (MB = 10^6 bytes):\n")
    print("| run | encrypt MB/s | of bare | decrypt MB/s | of bare |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(throughput()))
    print("\nPeak Python memory (tracemalloc) while streaming, input made piece by piece:\n")
    print("| run | peak | in 64 KiB chunks |")
    print("| --- | ---: | ---: |")
    print("\n".join(peak_memory()))
    print("\n1 KiB range from the middle of a 1 GiB stream:\n")
    print("| range | chunks | read | decrypted | time |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(range_from_1gib()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(measure(sys.argv[2], int(sys.argv[3])))
    else:
        main()
