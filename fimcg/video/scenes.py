"""Scenes: video in which a slow variable moves among things that are not it.

A real recording is rarely one blob driven by one Markov state. The slow, metastable variable a user
wants (a particle switching wells) shares the frame with faster degrees of freedom (a fast wobble of
the same object, other moving objects), with illumination changes and camera shake, and may be
partly hidden. A scene composes such layers; every layer is driven by its own process, and the
scene returns the frames together with every hidden state, so that a coarse-graining can be scored
against the variable it should find.

Two levels:

* :func:`render_blobs` draws objects (:class:`Blob`: a position per frame, a width, a brightness, an
  elongation and an orientation, each possibly changing in time) with a global gain (flicker), a
  background level, a camera shift (shake) that moves every object alike, an opaque occluder, and
  pixel noise. A pure function of its inputs (plus the noise's seed).
* :func:`make_scene` builds named scenes (:data:`SCENES`) from the catalogue's double well (the slow
  signal, simulated with :func:`fimcg.sde.simulate`) and Ornstein-Uhlenbeck processes (the nuisances,
  sampled exactly). Each returns a :class:`Scene`.

Units: positions in pixels ``(column, row)``, pixel centres at 0 .. size-1; rates in 1/time units;
``dt`` is the time between frames.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .._validation import check_int, check_positive
from ..sde import SDE, simulate, systems
from .render import latent_to_pixel

__all__ = ["Blob", "Occluder", "Scene", "render_blobs", "ou_process", "make_scene", "SCENES", "SceneCollection",
           "make_collection"]


@dataclass(frozen=True)
class Blob:
    """One object of a scene: a Gaussian spot, possibly elongated and turning.

    Attributes:
        position: (n_paths, T, 2) centre per frame, ``(column, row)`` in pixels.
        width: standard deviation across the object's axis, in pixels: a number, or (n_paths, T) for
            a deforming object.
        brightness: peak intensity (> 0).
        elongation: standard deviation along the axis over ``width`` (1: round).
        angle: orientation of the axis, radians from the column axis: a number, or (n_paths, T) for
            a turning object.
    """

    position: torch.Tensor
    width: float | torch.Tensor = 1.5
    brightness: float = 1.0
    elongation: float = 1.0
    angle: float | torch.Tensor = 0.0


@dataclass(frozen=True)
class Occluder:
    """An opaque rectangle drawn over everything (a partial occlusion): pixels with
    ``col0 <= column < col1`` and ``row0 <= row < row1`` take the value ``level``."""

    col0: int
    col1: int
    row0: int
    row1: int
    level: float = 0.0


def _per_frame(value: float | torch.Tensor, n: int, name: str) -> torch.Tensor:
    """A number or an (n_paths, T) tensor, as (n,) float32 over all frames."""
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.ndim == 0:
        return t.expand(n)
    if t.numel() != n:
        raise ValueError(f"{name} must be a number or have one value per frame ({n}), got shape {tuple(t.shape)}")
    return t.reshape(n)


def render_blobs(blobs: Sequence[Blob], *, size: int = 32, background: float | torch.Tensor = 0.0,
                 gain: float | torch.Tensor = 1.0, shift: torch.Tensor | None = None,
                 occluders: Sequence[Occluder] = (), noise: float = 0.0, seed: int | None = None,
                 chunk_frames: int = 4096) -> torch.Tensor:
    """Draw objects into frames.

    Each frame is ``clip(gain · (background + Σ_objects spot) + noise, 0, 1)`` with occluded pixels
    set to their occluder's level; a spot is ``brightness · exp(-a²/(2 (width·elongation)²) -
    b²/(2 width²))`` with (a, b) the pixel's offset from the object's centre (moved by ``shift``)
    along and across its axis.

    Args:
        blobs: the objects; every position has the same (n_paths, T, 2) shape.
        size: image side in pixels (>= 4).
        background: background level, a number or (n_paths, T) (a flickering background).
        gain: global brightness factor, a number or (n_paths, T) (flicker).
        shift: (n_paths, T, 2) camera shift in pixels added to every object (shake), or None.
        occluders: opaque rectangles drawn last, before the noise.
        noise: standard deviation of i.i.d. Gaussian pixel noise (>= 0).
        seed: seed of the noise (None: torch's global generator).
        chunk_frames: frames drawn at once (bounds temporary memory).

    Returns:
        Frames, float32 (n_paths, T, size, size) in [0, 1].
    """
    if not blobs:
        raise ValueError("render_blobs needs at least one Blob (for empty frames use torch.zeros)")
    size = check_int(size, name="size", minimum=4)
    shape = tuple(blobs[0].position.shape)
    if len(shape) != 3 or shape[-1] != 2:
        raise ValueError(f"Blob.position must have shape (n_paths, T, 2), got {shape}")
    for i, b in enumerate(blobs):
        if tuple(b.position.shape) != shape:
            raise ValueError(f"blob {i} has positions of shape {tuple(b.position.shape)}, blob 0 {shape}")
        check_positive(b.brightness, name=f"blobs[{i}].brightness")
        check_positive(b.elongation, name=f"blobs[{i}].elongation")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0, got {noise!r}")
    n_paths, length = shape[:2]
    n = n_paths * length
    if shift is not None and tuple(shift.shape) != shape:
        raise ValueError(f"shift must have shape {shape} (one camera offset per frame), got {tuple(shift.shape)}")
    bg, gn = _per_frame(background, n, "background"), _per_frame(gain, n, "gain")
    per_blob = [(b.position.reshape(n, 2).float() + (0 if shift is None else shift.reshape(n, 2).float()),
                 _per_frame(b.width, n, "Blob.width"), _per_frame(b.angle, n, "Blob.angle"), b) for b in blobs]
    grid = torch.arange(size, dtype=torch.float32)
    cols, rows = grid[None, None, :], grid[None, :, None]
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    out = torch.empty(n, size, size, dtype=torch.float32)
    for s in range(0, n, chunk_frames):
        e = min(n, s + chunk_frames)
        img = bg[s:e, None, None].expand(-1, size, size).clone()
        for pos, width, angle, b in per_blob:
            dc, dr = cols - pos[s:e, 0, None, None], rows - pos[s:e, 1, None, None]
            c, si = torch.cos(angle[s:e])[:, None, None], torch.sin(angle[s:e])[:, None, None]
            along, across = dc * c + dr * si, -dc * si + dr * c
            w = width[s:e, None, None]
            img += b.brightness * torch.exp(-0.5 * (along / (w * b.elongation)) ** 2 - 0.5 * (across / w) ** 2)
        img *= gn[s:e, None, None]
        for occ in occluders:
            img[:, occ.row0:occ.row1, occ.col0:occ.col1] = occ.level
        if noise > 0:
            img += noise * torch.randn(img.shape, generator=gen)
        out[s:e] = img.clamp_(0.0, 1.0)
    return out.reshape(n_paths, length, size, size)


def ou_process(n_paths: int, length: int, *, dim: int = 1, rate: float, std: float, dt: float,
               mean: float | Sequence[float] = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Stationary Ornstein-Uhlenbeck paths sampled exactly at steps ``dt``: (n_paths, length, dim).

    dX = rate (mean - X) dt + std sqrt(2 rate) dW, so ``std`` is the stationary standard deviation and
    1/rate the correlation time (same units as ``dt``).
    """
    rate, std, dt = check_positive(rate, name="rate"), check_positive(std, name="std"), check_positive(dt, name="dt")
    rho = math.exp(-rate * dt)
    innovation = std * math.sqrt(1 - rho * rho)
    eps = torch.randn(n_paths, length, dim, generator=generator)
    x = torch.empty(n_paths, length, dim)
    x[:, 0] = std * eps[:, 0]
    for t in range(1, length):
        x[:, t] = rho * x[:, t - 1] + innovation * eps[:, t]
    return x + torch.as_tensor(mean, dtype=torch.float32)


@dataclass
class Scene:
    """Frames of a scene with its hidden states.

    Attributes:
        name: the scene's name (:data:`SCENES`).
        frames: (n_paths, T, size, size) float32 in [0, 1].
        dt: time between frames.
        signal: (n_paths, T, 1) the slow variable a coarse-graining should find (None: nothing slow).
        sde: the system that drives ``signal`` (None with it).
        states: every hidden process by name, each (n_paths, T, k) (the signal's too).
        description: what the scene shows and what makes it hard.
    """

    name: str
    frames: torch.Tensor
    dt: float
    signal: torch.Tensor | None
    sde: SDE | None
    states: dict[str, torch.Tensor] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class _Setting:
    """What :func:`make_scene` passes to a scene builder."""

    n_paths: int
    length: int
    dt: float
    size: int
    noise: float
    gen: torch.Generator
    seed: int
    substeps: int


def _signal(s: _Setting, sde: SDE) -> torch.Tensor:
    """(n_paths, T, 1) paths of the slow system, started in alternating wells, observed every dt."""
    x0 = torch.tensor([-1.0, 1.0]).repeat((s.n_paths + 1) // 2)[:s.n_paths, None]
    x0 = x0 + 0.2 * torch.randn(s.n_paths, 1, generator=s.gen)
    return simulate(sde, x0, dt=s.dt, n_steps=s.length - 1, substeps=s.substeps, seed=s.seed)


def _centre(s: _Setting) -> float:
    return (s.size - 1) / 2


def _particle(s: _Setting, x: torch.Tensor, *, embedding: str = "line", **look: Any) -> Blob:
    return Blob(latent_to_pixel(x, size=s.size, embedding=embedding, x_range=(-2.0, 2.0)), **look)


def _distractor(s: _Setting, *, rate: float, std: float, **look: Any) -> tuple[Blob, torch.Tensor]:
    """A blob moving by a 2-D OU process around the image centre (std in pixels)."""
    p = ou_process(s.n_paths, s.length, dim=2, rate=rate, std=std, dt=s.dt, mean=_centre(s), generator=s.gen)
    return Blob(p, **look), p


def _reference(s, sde):
    x = _signal(s, sde)
    return [_particle(s, x)], {"signal": x}, {}, "the particle alone, on a line (geometry alone finds it)"


def _arc(s, sde):
    x = _signal(s, sde)
    return [_particle(s, x, embedding="arc")], {"signal": x}, {}, "the particle on a 240-degree arc"


def _pixel_noise(s, sde):
    x = _signal(s, sde)
    return [_particle(s, x)], {"signal": x}, {"noise": max(s.noise, 0.05)}, "the particle, pixel noise 0.05"


def _distractor_scene(s, sde, *, rate: float = 20.0, brightness: float = 1.0):
    x = _signal(s, sde)
    rate = check_positive(rate, name="rate")
    if not (isinstance(brightness, (int, float)) and math.isfinite(brightness) and brightness >= 0):
        raise ValueError(f"brightness must be a finite number >= 0, got {brightness!r}")
    blob, p = _distractor(s, rate=rate, std=0.25 * s.size, width=2.0, brightness=float(brightness) or 1.0)
    blobs = [_particle(s, x, brightness=0.7)] + ([blob] if brightness > 0 else [])  # 0: drawn but not shown
    return (blobs, {"signal": x, "distractor": p}, {},
            f"a blob of brightness {float(brightness):g} (the particle's: 0.7), wider (2 px against 1.5), moving by a 2-D OU "
            f"process (correlation time {1 / rate:.2g}) over the whole image")


def _crowd(s, sde):
    x = _signal(s, sde)
    blobs, states = [_particle(s, x, brightness=0.8)], {"signal": x}
    for i, (rate, width, bright) in enumerate([(10.0, 1.2, 0.6), (15.0, 2.0, 0.9), (25.0, 1.5, 1.0),
                                               (40.0, 2.5, 0.7)]):
        blob, p = _distractor(s, rate=rate, std=0.22 * s.size, width=width, brightness=bright)
        blobs.append(blob)
        states[f"distractor_{i}"] = p
    return blobs, states, {}, "four distractors of different speeds, sizes and brightnesses"


def _slow_fast(s, sde):
    x = _signal(s, sde)
    pos = latent_to_pixel(x, size=s.size, x_range=(-2.0, 2.0))
    wobble = ou_process(s.n_paths, s.length, rate=30.0, std=0.18 * s.size, dt=s.dt, generator=s.gen)
    pos = torch.stack([pos[..., 0], pos[..., 1] + wobble[..., 0]], dim=-1)
    return ([Blob(pos)], {"signal": x, "wobble": wobble}, {},
            "one blob: the slow double well along the columns, a fast OU of larger pixel extent along the rows")


def _flicker(s, sde):
    x = _signal(s, sde)
    gain = (1 + ou_process(s.n_paths, s.length, rate=25.0, std=0.25, dt=s.dt, generator=s.gen)[..., 0]).clamp(0.3, 1.7)
    bg = (0.15 + ou_process(s.n_paths, s.length, rate=25.0, std=0.08, dt=s.dt, generator=s.gen)[..., 0]).clamp(0.0, 0.4)
    return ([_particle(s, x, brightness=0.7)], {"signal": x, "gain": gain[..., None], "background": bg[..., None]},
            {"gain": gain, "background": bg}, "global brightness and background level flicker (fast OU, +-25%)")


def _shake(s, sde):
    x = _signal(s, sde)
    shift = ou_process(s.n_paths, s.length, dim=2, rate=15.0, std=1.5, dt=s.dt, generator=s.gen)
    c = _centre(s)
    marks = [Blob(torch.tensor([c + dx * s.size, c + dy * s.size]).expand(s.n_paths, s.length, 2), width=1.2,
                  brightness=0.8) for dx, dy in ((-0.3, -0.3), (0.3, -0.3), (0.0, 0.35))]
    return ([_particle(s, x), *marks], {"signal": x, "shift": shift}, {"shift": shift},
            "camera shake (2-D OU, 1.5 px) moving the particle and three static landmarks alike")


def _rotation(s, sde):
    x = _signal(s, sde)
    angle = torch.cumsum(math.sqrt(2 * 40.0 * s.dt) * torch.randn(s.n_paths, s.length, generator=s.gen), dim=1)
    width = (1.0 + 0.3 * ou_process(s.n_paths, s.length, rate=20.0, std=1.0, dt=s.dt, generator=s.gen)[..., 0]
             ).clamp(0.6, 1.6)
    return ([_particle(s, x, width=width, elongation=2.5, angle=angle)],
            {"signal": x, "angle": angle[..., None], "width": width[..., None]}, {},
            "an elongated particle turning fast (rotational diffusion) and changing its width")


def _occlusion(s, sde):
    x = _signal(s, sde)
    c = int(round(_centre(s)))
    occ = Occluder(col0=c + 2, col1=s.size, row0=c, row1=s.size, level=0.2)  # the lower half of the right side
    return ([_particle(s, x)], {"signal": x}, {"occluders": (occ,)},
            "an opaque patch hides the lower half of the particle whenever it is right of the centre")


def _fast_only(s, sde):
    blob, p = _distractor(s, rate=20.0, std=0.25 * s.size, width=2.0)
    return [blob], {"distractor": p}, {}, "nothing slow: a lone fast OU blob"


def _noise_only(s, sde):
    return [], {}, {"noise": max(s.noise, 0.1)}, "nothing slow: pixel noise only"


Builder = Callable[[_Setting, SDE], tuple[list, dict, dict, str]]
#: scene name -> builder; every scene but the last two has the double well as its slow signal
SCENES: dict[str, Builder] = {
    "reference": _reference, "arc": _arc, "pixel_noise": _pixel_noise, "distractor": _distractor_scene,
    "crowd": _crowd, "slow_fast": _slow_fast, "flicker": _flicker, "shake": _shake, "rotation": _rotation,
    "occlusion": _occlusion, "fast_only": _fast_only, "noise_only": _noise_only,
}


def make_scene(name: str, *, n_paths: int = 24, n_frames: int = 1000, dt: float = 0.01, size: int = 32,
               noise: float = 0.02, seed: int = 0, sde: SDE | None = None, substeps: int = 5,
               **options: Any) -> Scene:
    """A named scene (:data:`SCENES`) with the slow signal ``sde`` (default: the reference double well).

    Args:
        name: the scene.
        n_paths, n_frames: paths and frames per path.
        dt: time between frames; the signal is integrated with ``substeps`` Euler-Maruyama steps per frame.
        size: image side in pixels.
        noise: pixel noise (the pixel-noise scenes use at least their own level).
        seed: seeds every process and the noise.
        sde: the slow system (1-D), default :func:`fimcg.sde.systems.double_well`.
        options: the scene's own settings, where it has any: ``"distractor"`` takes ``rate`` (the
            distractor's OU rate, 1/time units, default 20) and ``brightness`` (default 1.0; the
            particle's is 0.7).

    Returns:
        :class:`Scene`.
    """
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; valid: {', '.join(SCENES)}")
    sde = sde if sde is not None else systems.double_well()
    if sde.dim != 1:
        raise ValueError(f"the scenes' slow signal must be 1-D, got {sde.name} with d={sde.dim}")
    setting = _Setting(n_paths=check_int(n_paths, name="n_paths", minimum=1),
                       length=check_int(n_frames, name="n_frames", minimum=2), dt=check_positive(dt, name="dt"),
                       size=check_int(size, name="size", minimum=8), noise=float(noise),
                       gen=torch.Generator().manual_seed(int(seed)), seed=int(seed),
                       substeps=check_int(substeps, name="substeps", minimum=1))
    accepted = [p.name for p in inspect.signature(SCENES[name]).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"scene {name!r} has no option {', '.join(map(repr, unknown))}; its options: "
                         f"{', '.join(accepted) or 'none'}")
    blobs, states, render_options, description = SCENES[name](setting, sde, **options)
    rendering = {"noise": setting.noise, **render_options}
    if blobs:
        frames = render_blobs(blobs, size=size, seed=seed + 1, **rendering)
    else:
        gen = torch.Generator().manual_seed(seed + 1)
        frames = (0.3 + rendering["noise"] * torch.randn(n_paths, n_frames, size, size, generator=gen)).clamp(0, 1)
    signal = states.get("signal")
    return Scene(name=name, frames=frames, dt=setting.dt, signal=signal, sde=sde if signal is not None else None,
                 states=states, description=description)


@dataclass
class SceneCollection:
    """Recordings of one kind of system whose parameters differ from recording to recording.

    Attributes:
        scenes: one :class:`Scene` per recording (frames (n_paths, T, size, size), signal, sde).
        params: each recording's hidden parameters (``barrier``, ``noise``, ``tilt`` of
            :func:`fimcg.sde.systems.landscape_sde`).
        names: ``"recording k"``.
    """

    scenes: list[Scene]
    params: list[dict]
    names: list[str]

    @property
    def frames(self) -> list[torch.Tensor]:
        return [sc.frames for sc in self.scenes]

    @property
    def signals(self) -> list[torch.Tensor]:
        return [sc.signal for sc in self.scenes]


def make_collection(n_recordings: int, *, n_paths: int = 4, n_frames: int = 500, dt: float = 0.01, size: int = 32,
                    noise: float = 0.02, barrier: tuple[float, float] = (0.6, 1.6),
                    noise_level: tuple[float, float] = (1.6, 2.2), tilt: tuple[float, float] = (0.0, 0.0),
                    scene: str = "reference", seed: int = 0) -> SceneCollection:
    """A collection of recordings: the double well of :func:`fimcg.sde.systems.landscape_sde` with
    each recording's barrier height, noise level (g at the barrier top) and tilt drawn uniformly from
    the given ranges, rendered as the ``scene`` of :data:`SCENES` (default the reference particle).

    Args:
        n_recordings: recordings (>= 1). n_paths, n_frames, dt, size, noise: each recording's
            paths, frames per path, time step, image side and pixel noise (as in :func:`make_scene`).
        barrier, noise_level, tilt: (low, high) ranges; equal bounds fix the parameter.
        seed: seeds the parameters and every recording (recording k uses ``seed + 1000 k``).
    """
    n_recordings = check_int(n_recordings, name="n_recordings", minimum=1)
    ranges = {"barrier": barrier, "noise": noise_level, "tilt": tilt}
    for key, (lo, hi) in ranges.items():
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise ValueError(f"{key} must be a range (low, high) with low <= high, got {(lo, hi)!r}")
    if barrier[0] <= 0 or noise_level[0] <= 0:
        raise ValueError(f"barrier and noise_level must be > 0, got {barrier!r} and {noise_level!r}")
    gen = np.random.default_rng(seed)
    scenes, params = [], []
    for k in range(n_recordings):
        p = {key: float(gen.uniform(lo, hi)) for key, (lo, hi) in ranges.items()}
        sde = systems.landscape_sde(barrier=p["barrier"], noise=p["noise"], tilt=p["tilt"])
        scenes.append(make_scene(scene, n_paths=n_paths, n_frames=n_frames, dt=dt, size=size, noise=noise,
                                 seed=seed + 1000 * k, sde=sde))
        params.append(p)
    return SceneCollection(scenes=scenes, params=params, names=[f"recording {k}" for k in range(n_recordings)])
