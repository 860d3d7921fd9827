"""Weights: the official checkpoints (download, verify, cache), the bundled ones, and
one loader that adapts either layout to our networks."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import torch
from tqdm import tqdm

from ..contract import BUNDLED_SET, OFFICIAL_SET, MODELS, WEIGHT_SETS, weights_spec
from .networks import SRCNN, build_network

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"
OFFICIAL_GAIN_PATH = BUNDLED_DIR / "srcnn_official_gain.json"
# What --weight-sets / SRSPACE_WEIGHTS may ask for: one set, or "auto": every set that can be had
# (the bundled one always, the official one when it downloads or is cached).
SOURCES = ("auto", *WEIGHT_SETS)


class WeightsError(RuntimeError):
    """Weights could not be obtained or do not fit the network; the message says what to do."""


@dataclass(frozen=True)
class Checkpoint:
    name: str  # the weights it holds: "srcnn", "espcn_x3" (contract.ModelSpec.weights_name)
    url: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str:
        """The hex after the last '-' of the file name: the prefix of its SHA-256."""
        return Path(self.filename).stem.rsplit("-", 1)[-1]


# The tutorials' checkpoints: OpenMMLab's SRCNN (trained at x4) and PyTorch's ESPCN, which exists at x3 only;
# the official set therefore has no espcn_x2 and espcn_x4.
OFFICIAL = {
    "srcnn": Checkpoint(
        "srcnn",
        "https://download.openmmlab.com/mmediting/restorers/srcnn/srcnn_x4k915_1x16_1000k_div2k_20200608-4186f232.pth",
    ),
    "espcn_x3": Checkpoint("espcn_x3", "https://s3.amazonaws.com/pytorch/test_data/export/superres_epoch100-44c6958e.pth"),
}


@dataclass(frozen=True)
class LoadedWeights:
    name: str  # "srcnn", "espcn_x2", ... (contract.ModelSpec.weights_name)
    state_dict: dict
    source: str  # the weight set: "official" or "bundled"
    path: Path
    sha256: str


def official_checkpoint(name: str) -> Checkpoint:
    """The official checkpoint of weights ``name``; $SRSPACE_MIRROR (a URL prefix) serves the same
    files from elsewhere (a local mirror, a firewall's proxy, the tests' loopback server)."""
    if name not in OFFICIAL:
        raise WeightsError(f"there is no official checkpoint for {name}: the tutorials published "
                           f"{' and '.join(OFFICIAL)} only; use the bundled weights")
    ckpt = OFFICIAL[name]
    mirror = os.environ.get("SRSPACE_MIRROR")
    return Checkpoint(name, f"{mirror.rstrip('/')}/{ckpt.filename}") if mirror else ckpt


PERSISTENT_STORAGE = Path("/data")  # a Hugging Face Space's persistent storage, when it has some


def cache_dir(persistent: Path = PERSISTENT_STORAGE) -> Path:
    """Where downloaded checkpoints live: $SRSPACE_CACHE; else, where ``persistent`` (a Space's
    /data) is a writable folder, ``persistent``/srspace, so they outlive a restart; else
    ~/.cache/srspace."""
    if os.environ.get("SRSPACE_CACHE"):
        return Path(os.environ["SRSPACE_CACHE"])
    if Path(persistent).is_dir() and os.access(persistent, os.W_OK):
        return Path(persistent) / "srspace"
    return Path.home() / ".cache" / "srspace"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    sha256_prefix: str,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Stream ``url`` to ``dest``, verifying that its SHA-256 starts with ``sha256_prefix``.

    The body goes to a temporary file beside ``dest`` and is moved into place only when
    complete and verified; on any failure nothing is left behind. Connection errors,
    time-outs, truncated bodies and server errors are retried ``retries`` times; a
    4xx answer or a hash mismatch is final.
    """
    dest = Path(dest)
    if dest.exists() and sha256_file(dest).startswith(sha256_prefix):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for attempt in range(1, retries + 1):
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            digest, received = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out, requests.get(url, stream=True, timeout=timeout) as response:
                if 400 <= response.status_code < 500:
                    raise WeightsError(
                        f"{urlsplit(url).netloc} answered HTTP {response.status_code} for {dest.name}: "
                        "the checkpoint is not there; use --weight-sets bundled"
                    )
                response.raise_for_status()
                expected = int(response.headers.get("Content-Length") or 0)
                with tqdm(total=expected or None, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if expected and received != expected:
                raise requests.exceptions.ChunkedEncodingError(f"truncated: got {received} of {expected} bytes")
            if not digest.hexdigest().startswith(sha256_prefix):
                raise WeightsError(
                    f"{dest.name} downloaded, but its SHA-256 {digest.hexdigest()[:16]}... does not start with "
                    f"{sha256_prefix}: corrupt or not the expected checkpoint; nothing was kept"
                )
            os.chmod(tmp, 0o644)  # a cache others may share: not the 0600 of a temporary file
            os.replace(tmp, dest)
            return dest
        except requests.RequestException as exc:
            last_error = type(exc).__name__
        finally:
            tmp.unlink(missing_ok=True)
        if attempt < retries:
            time.sleep(backoff * attempt)
    raise WeightsError(
        f"could not download {dest.name} from {urlsplit(url).netloc} after {retries} attempts ({last_error}); "
        "check the network, or use --weight-sets bundled"
    )


def adapt_state_dict(obj: dict, name: str) -> dict[str, torch.Tensor]:
    """Map a checkpoint of either official layout onto the keys of weights ``name`` ("srcnn",
    "espcn_x2", ...; a bare "espcn" is the tutorial's x3).

    MMEditing nests the weights in ``state_dict`` with a ``generator.`` prefix; PyTorch's
    example saves a flat dict. ``module.`` prefixes (DataParallel) are dropped too. Our
    SRCNN's one extra tensor, its residual gain, is 1 where a checkpoint has none.
    """
    if isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if any(k.startswith("generator.") for k in obj):
        obj = {k[len("generator.") :]: v for k, v in obj.items() if k.startswith("generator.")}
    obj = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in obj.items()}
    spec = weights_spec(name)
    network = spec.network
    expected = build_network(network, spec.fixed_factor).state_dict()
    if network == "srcnn":  # official SRCNN checkpoints have no gain: g = 1 is exactly their network
        obj.setdefault(SRCNN.GAIN_KEY, expected[SRCNN.GAIN_KEY])
    missing = sorted(set(expected) - set(obj))
    unexpected = sorted(set(obj) - set(expected))
    if missing or unexpected:
        raise WeightsError(f"checkpoint does not fit {spec.weights_name}: missing {missing}, unexpected {unexpected}")
    for key, value in expected.items():
        if tuple(obj[key].shape) != tuple(value.shape):
            raise WeightsError(f"checkpoint does not fit {spec.weights_name}: {key} is {tuple(obj[key].shape)}, "
                               f"expected {tuple(value.shape)}")
    return {k: obj[k].float() for k in expected}


def load_checkpoint(path: Path, name: str) -> dict[str, torch.Tensor]:
    """Load any supported checkpoint file safely (``weights_only=True``) and adapt it."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, pickle.UnpicklingError) as exc:
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({exc}); delete it and try again.") from exc
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    return adapt_state_dict(obj, name)


def official_gain_record() -> dict | None:
    """The residual gain fitted to the official SRCNN checkpoint (srspace/buildtime/official_gain.py), if any."""
    try:
        return json.loads(OFFICIAL_GAIN_PATH.read_text())
    except FileNotFoundError:
        return None


def load_weights(path: Path, name: str, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """``load_checkpoint``, plus the fitted residual gain when the file is the official SRCNN
    it was fitted to: trained at x4 only, that network is applied only as strongly as it helps."""
    state_dict = load_checkpoint(path, name)
    record = official_gain_record() if name == "srcnn" else None
    if record and (sha256 or sha256_file(path)) == record["checkpoint_sha256"]:
        state_dict[SRCNN.GAIN_KEY] = torch.tensor(record["residual_gain"], dtype=torch.float32)
    return state_dict


def save_weights(state_dict: dict, network: str, path: Path, provenance: dict) -> None:
    """Save trained weights in the official layout of ``network``, provenance beside them (.json)."""
    tensors = {k: v.detach().clone() for k, v in state_dict.items()}
    obj = {"state_dict": {f"generator.{k}": v for k, v in tensors.items()}} if network == "srcnn" else tensors
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = path.with_suffix(".json")
    # Both files are written beside their targets and moved into place only when complete: an
    # interrupted save leaves the previous weights and their provenance as they were.
    torch.save(obj, path.with_suffix(".pth.tmp"))
    meta.with_suffix(".json.tmp").write_text(json.dumps(provenance, indent=2) + "\n")
    os.replace(path.with_suffix(".pth.tmp"), path)
    os.replace(meta.with_suffix(".json.tmp"), meta)


def bundled_path(name: str, weights: str = BUNDLED_SET) -> Path:
    """The shipped file of weights ``name`` ("srcnn", "espcn_x2", ...) of set ``weights``: the
    bundled set's in srspace/bundled/, another shipped set's (photo) in a folder of its own there."""
    return BUNDLED_DIR / f"{name}.pth" if weights == BUNDLED_SET else BUNDLED_DIR / weights / f"{name}.pth"


def resolve(name: str, weights: str, checkpoint: Checkpoint | None = None, **download_args) -> LoadedWeights:
    """Weights ``name`` ("srcnn", "espcn_x3", ...) from set ``weights``: "official" (download or
    cache) or "bundled" (shipped with the project)."""
    if weights not in WEIGHT_SETS:
        raise ValueError(f"unknown weight set {weights!r}; choose one of {tuple(WEIGHT_SETS)}")
    if weights == OFFICIAL_SET:
        ckpt = checkpoint or official_checkpoint(name)
        try:
            path = download(ckpt.url, cache_dir() / ckpt.filename, ckpt.sha256_prefix, **download_args)
        except OSError as exc:  # the cache folder itself: not a folder, not writable, disk full
            raise WeightsError(f"the weights cache {cache_dir()} is unusable ({exc.strerror or exc}); "
                               "set SRSPACE_CACHE to a writable folder") from exc
    else:
        path = bundled_path(name, weights)
        if not path.exists():
            raise WeightsError(f"the {weights} weights {path.relative_to(BUNDLED_DIR.parent.parent)} are missing; "
                               "train them with train.py or restore them from git")
    sha256 = sha256_file(path)
    return LoadedWeights(name, load_weights(path, name, sha256), weights, path, sha256)


def recorded_path(name: str, record: dict) -> Path:
    """Where the weights a manifest entry records live: the download cache or the bundled file."""
    return cache_dir() / record["file"] if record["source"] == OFFICIAL_SET else bundled_path(name, record["source"])


def recorded_intact(name: str, record: dict) -> bool:
    """True when the recorded weights are still there, byte for byte."""
    path = recorded_path(name, record)
    return path.exists() and sha256_file(path) == record["sha256"]


def recorded_weights(manifest: dict, weights: str) -> list[tuple[str, dict]]:
    """(weights name, record) of one set's models in the manifest, each distinct pair once:
    the two SRCNN models share a record, so its file is hashed and loaded only once."""
    pairs: list[tuple[str, dict]] = []
    for key, entry in manifest["sets"][weights].items():
        pair = (MODELS[key].weights_name, entry["weights"])
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def recorded_state_dicts(manifest: dict, weights: str) -> dict[str, dict[str, torch.Tensor]]:
    """Per weights name, the state dict one set's models were exported from."""
    state_dicts = {}
    for name, record in recorded_weights(manifest, weights):
        if not recorded_intact(name, record):
            raise WeightsError(f"the {name} weights the models were exported from "
                               f"({recorded_path(name, record)}) are gone; run export_models.py --force")
        state_dicts[name] = load_weights(recorded_path(name, record), name, record["sha256"])
    return state_dicts
