"""The tiktoken encodings chatsynth ships (o200k_base, cl100k_base), so token counts work with
no network and no ``TIKTOKEN_CACHE_DIR``.

The rank files in ``synth/_tiktoken/`` are tiktoken's own downloads, byte for byte; each is
checked against its SHA-256 (the hashes tiktoken_ext.openai_public checks) before use.  They
are read with tiktoken's file reader and parsed the way ``tiktoken.load.load_tiktoken_bpe``
does, without its cache step (which would copy them into the user's tiktoken cache), and built
into a ``tiktoken.Encoding`` with the pattern and special tokens of tiktoken_ext.openai_public.

``tiktoken_cache_has`` says whether tiktoken's own cache already holds an encoding, so that
``synth.tokens`` only falls back to these files when tiktoken would otherwise download.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

from synth.errors import ChatsynthError

DIR = Path(__file__).resolve().parent / "_tiktoken"
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"

# SHA-256 of each rank file (as in tiktoken_ext.openai_public)
SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"

# patterns and special tokens exactly as tiktoken_ext.openai_public defines them
_SPEC = {
    "cl100k_base": {
        "pat_str": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        "special_tokens": {_ENDOFTEXT: 100257, "<|fim_prefix|>": 100258,
                           "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
                           _ENDOFPROMPT: 100276},
    },
    "o200k_base": {
        "pat_str": "|".join([
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]),
        "special_tokens": {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    },
}


def tiktoken_cache_has(name: str) -> bool:
    """Whether tiktoken's own cache holds ``name`` (so ``tiktoken.get_encoding`` needs no
    network).  Same place and file name tiktoken.load.read_file_cached uses."""
    if name not in SHA256:
        return False
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir:
        return False  # caching disabled: tiktoken would download
    key = hashlib.sha1(_URL.format(name).encode()).hexdigest()
    path = Path(cache_dir) / key
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[name]
    except OSError:
        return False


def load_bundled(name: str):
    """The shipped encoding ``name`` as a ``tiktoken.Encoding``; ChatsynthError if the file is
    missing or does not match its hash."""
    import tiktoken
    from tiktoken.load import read_file

    path = DIR / f"{name}.tiktoken"
    try:
        data = read_file(str(path))
    except OSError as exc:
        raise ChatsynthError(f"the shipped encoding file can't be read ({exc.strerror})",
                             path=path) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise ChatsynthError(f"the shipped encoding file is damaged (SHA-256 {digest}, expected "
                             f"{SHA256[name]}); reinstall chatsynth", path=path)
    ranks = {}
    for line in data.splitlines():  # the format tiktoken.load.load_tiktoken_bpe reads
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    spec = _SPEC[name]
    return tiktoken.Encoding(name=name, pat_str=spec["pat_str"], mergeable_ranks=ranks,
                             special_tokens=dict(spec["special_tokens"]))
