"""A procedurally generated image-caption corpus: the stand-in for the web data a real VLM is pretrained on.

Broad rather than task-specific: 14 shapes, 16 colours, three sizes, nine positions, one to three objects,
tinted, dark, gradient or noisy backgrounds, rotations, and captions from many templates (attributes,
positions, relations, counts). Item `i` of a corpus with seed `s` is a pure function of `(s, i)`, so the
corpus needs no disk and any slice of it can be regenerated exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (225, 25, 25),
    "green": (30, 160, 40),
    "blue": (25, 40, 220),
    "yellow": (240, 220, 20),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
    "teal": (0, 128, 128),
    "brown": (150, 75, 30),
    "orange": (255, 140, 0),
    "purple": (128, 0, 160),
    "pink": (255, 120, 190),
    "white": (250, 250, 250),
    "cyan": (0, 230, 240),
    "magenta": (230, 0, 200),
    "navy": (10, 20, 100),
    "olive": (120, 130, 20),
}
SHAPES = [
    "circle",
    "square",
    "rectangle",
    "triangle",
    "ellipse",
    "star",
    "cross",
    "diamond",
    "pentagon",
    "hexagon",
    "ring",
    "semicircle",
    "arrow",
    "trapezoid",
]
# Object widths as a share of the image. Objects under ~1/4 of a 64-pixel image span one or two 8-pixel
# patches, too few for a small ViT to tell 14 shapes apart: with widths of 0.14-0.24 a supervised probe
# reached 17% shape accuracy after 1,000 steps, with these 24%, then 65% after 3,000.
SIZES = {"small": (0.24, 0.34), "medium": (0.36, 0.5), "large": (0.52, 0.72)}
BACKGROUNDS = ["light", "dark", "gradient", "noisy"]


@dataclass(frozen=True)
class Thing:
    shape: str
    color: str
    size: str
    x: float  # centre, as a share of the image width
    y: float
    extent: float  # half-size, as a share of the image width
    angle: float


@dataclass(frozen=True)
class Scene:
    things: tuple[Thing, ...]
    background: str


def _plural(shape: str) -> str:
    return shape + "es" if shape.endswith("x") else shape + "s"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _position(thing: Thing) -> str:
    row = "top" if thing.y < 0.36 else "bottom" if thing.y > 0.64 else ""
    col = "left" if thing.x < 0.36 else "right" if thing.x > 0.64 else ""
    return f"{row} {col}".strip() or "center"


def sample_scene(rng: random.Random, count: int | None = None) -> Scene:
    """1-3 objects (or `count`) that do not overlap much, on one background."""
    count = count or rng.choices([1, 2, 3], weights=[0.5, 0.32, 0.18])[0]
    things: list[Thing] = []
    for _ in range(count * 20):
        if len(things) == count:
            break
        size = rng.choice(list(SIZES)) if count == 1 else rng.choice(["small", "medium"])
        extent = rng.uniform(*SIZES[size]) / 2
        x, y = rng.uniform(extent, 1 - extent), rng.uniform(extent, 1 - extent)
        if any(math.hypot(x - t.x, y - t.y) < extent + t.extent + 0.02 for t in things):
            continue
        things.append(
            Thing(rng.choice(SHAPES), rng.choice(list(COLORS)), size, x, y, extent, rng.uniform(0, 360))
        )
    return Scene(tuple(things), rng.choice(BACKGROUNDS))


def _background(scene: Scene, rng: random.Random, size: int) -> Image.Image:
    if scene.background == "dark":
        base = tuple(rng.randint(20, 70) for _ in range(3))
    else:
        base = tuple(rng.randint(215, 255) for _ in range(3))
    image = Image.new("RGB", (size, size), base)
    if scene.background == "gradient":
        other = tuple(rng.randint(170, 255) for _ in range(3))
        draw = ImageDraw.Draw(image)
        for row in range(size):
            t = row / (size - 1)
            draw.line(
                [(0, row), (size, row)],
                fill=tuple(int(a + (b - a) * t) for a, b in zip(base, other, strict=True)),
            )
    elif scene.background == "noisy":
        noise = Image.effect_noise((size, size), rng.uniform(20, 50)).convert("RGB")
        image = Image.blend(image, noise, 0.25)
    return image


def _polygon(thing: Thing, size: int, points: list[tuple[float, float]], rotate: bool = True) -> list[tuple]:
    angle = math.radians(thing.angle if rotate else 0)
    cx, cy, r = thing.x * size, thing.y * size, thing.extent * size
    out = []
    for px, py in points:
        rx = px * math.cos(angle) - py * math.sin(angle)
        ry = px * math.sin(angle) + py * math.cos(angle)
        out.append((cx + rx * r, cy + ry * r))
    return out


def _regular(n: int, start: float = -90) -> list[tuple[float, float]]:
    return [
        (math.cos(math.radians(start + 360 * k / n)), math.sin(math.radians(start + 360 * k / n)))
        for k in range(n)
    ]


def _outline(shape: str, rng: random.Random) -> list[tuple[float, float]] | None:
    """Unit-radius outline of a polygonal shape (None for shapes drawn as ellipses)."""
    if shape == "square":
        return [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]
    if shape == "rectangle":
        h = rng.uniform(0.35, 0.6)
        return [(-1, -h), (1, -h), (1, h), (-1, h)]
    if shape == "triangle":
        return _regular(3)
    if shape == "diamond":
        return [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)]
    if shape == "pentagon":
        return _regular(5)
    if shape == "hexagon":
        return _regular(6)
    if shape == "star":
        outer, inner = _regular(5), _regular(5, start=-54)
        return [p for pair in zip(outer, [(x * 0.42, y * 0.42) for x, y in inner], strict=True) for p in pair]
    if shape == "cross":
        a, b = 0.3, 1.0
        return [
            (-a, -b),
            (a, -b),
            (a, -a),
            (b, -a),
            (b, a),
            (a, a),
            (a, b),
            (-a, b),
            (-a, a),
            (-b, a),
            (-b, -a),
            (-a, -a),
        ]
    if shape == "arrow":
        return [(-1, -0.25), (0.2, -0.25), (0.2, -0.6), (1, 0), (0.2, 0.6), (0.2, 0.25), (-1, 0.25)]
    if shape == "trapezoid":
        return [(-1, 0.6), (1, 0.6), (0.5, -0.6), (-0.5, -0.6)]
    return None


def _draw(draw: ImageDraw.ImageDraw, thing: Thing, size: int, rng: random.Random) -> None:
    jitter = [max(0, min(255, c + rng.randint(-18, 18))) for c in COLORS[thing.color]]
    fill = tuple(jitter)
    cx, cy, r = thing.x * size, thing.y * size, thing.extent * size
    if thing.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif thing.shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(2, int(r * 0.35)))
    elif thing.shape == "ellipse":
        draw.ellipse([cx - r, cy - r * 0.55, cx + r, cy + r * 0.55], fill=fill)
    elif thing.shape == "semicircle":
        start = rng.choice([0, 90, 180, 270])
        draw.pieslice([cx - r, cy - r, cx + r, cy + r], start, start + 180, fill=fill)
    else:
        outline = _outline(thing.shape, rng)
        draw.polygon(
            _polygon(thing, size, outline, rotate=thing.shape not in ("square", "rectangle")), fill=fill
        )


def render(scene: Scene, rng: random.Random, size: int = 64) -> Image.Image:
    image = _background(scene, rng, size)
    draw = ImageDraw.Draw(image)
    for thing in scene.things:
        _draw(draw, thing, size, rng)
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    return image


def _named(thing: Thing, with_size: bool = False) -> str:
    words = ([thing.size] if with_size else []) + [thing.color, thing.shape]
    return f"{_article(words[0])} {' '.join(words)}"


def _listed(things: tuple[Thing, ...]) -> str:
    """'a red circle', or 'a red circle, a blue star and a green square'."""
    names = [_named(t) for t in things]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def caption(scene: Scene, rng: random.Random) -> str:
    """One caption among many templates: attributes, position, background, relations, counts."""
    things = scene.things
    background = (
        "a dark" if scene.background == "dark" else f"{_article(scene.background)} {scene.background}"
    )
    if len(things) == 1:
        t = things[0]
        templates = [
            f"{_named(t)}",
            f"{_named(t, True)}",
            f"a picture of {_named(t)}",
            f"{_named(t)} on {background} background",
            f"there is {_named(t)} in the {_position(t)}",
            f"{_article(t.shape)} {t.shape} colored {t.color}",
            f"an image with one {t.color} {t.shape}",
            f"{_named(t, True)} near the {_position(t)} of the image",
            f"the {t.shape} is {t.color}",
            f"a {t.size} {t.shape} in {t.color}",
        ]
        return rng.choice(templates)
    listed = _listed(things)
    count_word = {2: "two", 3: "three"}[len(things)]
    templates = [
        listed,
        f"{count_word} shapes: {listed}",
        f"{listed} on {background} background",
        f"a picture with {count_word} objects, {listed}",
    ]
    colors = {t.color for t in things}
    shapes = {t.shape for t in things}
    if len(shapes) == 1:
        templates.append(f"{count_word} {_plural(things[0].shape)}")
    if len(colors) == 1:
        templates.append(f"{count_word} {things[0].color} shapes")
    left, right = sorted(things[:2], key=lambda t: t.x)
    if right.x - left.x > 0.15:
        templates.append(f"{_named(left)} to the left of {_named(right)}")
        templates.append(f"{_named(right)} to the right of {_named(left)}")
    return rng.choice(templates)


def counterfactual(scene: Scene, rng: random.Random) -> Scene:
    """The scene with one object's shape or colour changed to one no object of the scene has."""
    index = rng.randrange(len(scene.things))
    thing = scene.things[index]
    present = {(t.color, t.shape) for t in scene.things}
    if rng.random() < 0.5:
        shape = rng.choice([s for s in SHAPES if (thing.color, s) not in present])
        changed = Thing(shape, thing.color, *_rest(thing))
    else:
        color = rng.choice([c for c in COLORS if (c, thing.shape) not in present])
        changed = Thing(thing.shape, color, *_rest(thing))
    things = list(scene.things)
    things[index] = changed
    return Scene(things=tuple(things), background=scene.background)


def caption_and_negative(scene: Scene, rng: random.Random) -> tuple[str, str]:
    """A caption and a hard negative for image-text matching, in the same template.

    The negative describes the scene with one attribute changed, drawn from the same random state as the
    caption, so only the image tells them apart (negatives in templates of their own let the matching
    head learn the wording instead of looking at the image).
    """
    state = rng.getstate()
    positive = caption(scene, rng)
    for _ in range(10):
        changed = counterfactual(scene, rng)
        resume = rng.getstate()
        rng.setstate(state)
        negative = caption(changed, rng)
        rng.setstate(resume)
        if negative != positive:
            return positive, negative
    return positive, _listed(changed.things)  # every draw hid the change (counts only): name them all


def _rest(thing: Thing) -> tuple:
    return thing.size, thing.x, thing.y, thing.extent, thing.angle


def item(seed: int, index: int, size: int = 64) -> tuple[Image.Image, str, str, Scene]:
    """Image, caption, hard-negative caption and scene of corpus item `index`."""
    rng = random.Random(seed * 1_000_003 + index)
    scene = sample_scene(rng)
    image = render(scene, rng, size)
    return image, *caption_and_negative(scene, rng), scene


def labeled_object(seed: int, index: int, size: int = 64) -> tuple[Image.Image, Thing]:
    """A one-object image and its object: the class-labeled images of the vision tower's first stage."""
    rng = random.Random(seed * 1_000_003 + index)
    scene = sample_scene(rng, count=1)
    return render(scene, rng, size), scene.things[0]


QUESTION_WORDS = (
    "a an the of in on to and with one two three shapes objects picture image drawing colored there is are "
    "left right top bottom center near background dark light what which how many where who does do not no "
    "yes color colour shape size present contain this that it its any some big small kind type number count"
)


def vocabulary_texts() -> list[str]:
    """Every word the corpus can write, plus common VQA question words, for the tokenizer's vocabulary."""
    words = list(COLORS) + SHAPES + [_plural(s) for s in SHAPES] + list(SIZES) + BACKGROUNDS
    return [" ".join(words), QUESTION_WORDS]
