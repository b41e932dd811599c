"""From a prompt to a scene plan: which elements, in what light, where on the canvas."""

import re
from dataclasses import dataclass, field, replace

import numpy as np

from studio.rendering import colour
from studio.rendering.noise import seeded_rng

# Prompt words (and their plurals) -> scene tags. Lights and worlds are tags too; see
# plan_scene for which one sets the mood when a prompt names several.
WORDS: dict[str, tuple[str, ...]] = {}
_VOCABULARY = {
    "golden": "sunset sundown golden evening dusky",
    "dawn": "sunrise dawn morning daybreak",
    "dusk": "dusk twilight",
    "night": "night midnight moon moonlight moonlit star starry nocturnal neon cyberpunk",
    "misty": "fog foggy mist misty haze hazy",
    "storm": "storm stormy rain rainy thunder lightning downpour",
    "rain": "rain rainy drizzle downpour",
    "snow": "snow snowy winter ice icy frozen glacier arctic christmas blizzard",
    "desert": "desert dune sand sandy sahara canyon arid",
    "space": "space galaxy nebula cosmos cosmic universe astronaut orbit interstellar",
    "day": "day sunny noon daylight summer",
    "mountains": "mountain peak alps range cliff volcano valley ridge",
    "hills": "hill countryside meadow field farm prairie",
    "water": "lake sea ocean water river reflection beach coast bay pond shore wave island",
    "forest": "forest wood woods pine jungle trees woodland grove",
    "tree": "tree oak willow",
    "city": "city skyline town urban skyscraper building street metropolis downtown",
    "cat": "cat kitten kitty",
    "dog": "dog puppy pup hound",
    "portrait": "portrait face headshot selfie bust",
    "person": "person woman man girl boy people figure warrior wizard knight traveler hiker",
    "birds": "bird seagull gull eagle crow",
    "boat": "boat ship sailboat sail yacht",
    "castle": "castle palace fortress kingdom citadel",
    "house": "house cabin cottage village home hut farmhouse",
    "flowers": "flower meadow garden tulip rose blossom bloom",
    "clouds": "cloud cloudy sky",
    "aurora": "aurora borealis",
    "planet": "planet saturn jupiter mars",
    "stars": "star starry galaxy",
    "galaxy": "galaxy spiral milky",
    "autumn": "autumn fall",
    "blossom": "cherry sakura spring blossom",
}
for _tag, _words in _VOCABULARY.items():
    for _word in _words.split():
        WORDS[_word] = (*WORDS.get(_word, ()), _tag)

LIGHTS = ("golden", "dawn", "dusk", "night", "misty", "storm", "day")  # times and weathers
WORLDS = ("snow", "desert", "space")  # kinds of land that come with a light of their own
SUBJECTS = ("cat", "dog", "portrait", "person")


def tags_in(text: str) -> list[str]:
    """Scene tags named by a text, in order of appearance, plurals folded."""
    found: list[str] = []
    for word in re.findall(r"[a-z]+", text.lower()):
        candidates = [word]
        if word.endswith("ies"):
            candidates.append(word[:-3] + "y")  # skies, cities, puppies
        if word.endswith("es"):
            candidates.append(word[:-2])  # beaches, foxes
        if word.endswith("s"):
            candidates.append(word[:-1])  # mountains, cats
        for candidate in candidates:
            if candidate in WORDS:
                found.extend(t for t in WORDS[candidate] if t not in found)
                break
    return found


@dataclass
class Plan:
    width: int
    height: int
    key: tuple  # everything that determines the picture; seeds every element's randomness
    mood: str
    palette: colour.Palette
    tags: set[str]
    subject: str | None
    horizon: float  # y of the horizon as a fraction of height
    sun: tuple[float, float]  # x, y as fractions
    sun_radius: float  # as a fraction of min(width, height)
    detail: int  # noise octaves
    light_side: float  # -1 when the light comes from the left, +1 from the right
    extra: dict = field(default_factory=dict)

    def rng(self, name: str) -> np.random.Generator:
        """Each element draws from its own stream, so removing one leaves the rest unchanged."""
        return seeded_rng(*self.key, name)

    @property
    def backlit(self) -> float:
        """How much foreground things are silhouettes against the light (0 noon .. 1 dusk)."""
        return {"golden": 0.85, "dusk": 0.8, "night": 0.9, "dawn": 0.6, "storm": 0.5}.get(
            self.mood, 0.15
        )


def plan_scene(
    *,
    prompt: str,
    width: int,
    height: int,
    key: tuple,
    negative: str = "",
    palette: tuple[tuple[int, int, int], ...] = (),
    steps: int = 30,
) -> Plan:
    """The scene a prompt describes; what it leaves open is decided by `key`'s hash."""
    rng = seeded_rng(*key, "plan")
    tags = tags_in(prompt)
    removed = set(tags_in(negative))
    tags = [t for t in tags if t not in removed]
    lights = [t for t in tags if t in LIGHTS]
    worlds = [t for t in tags if t in WORLDS]
    # A named light wins ("a snowy forest at night" is lit by the night); a world alone
    # brings its own (snow: bright day, desert: hard sun).
    if "space" in worlds:
        mood = "space"
    elif lights:
        mood = lights[0]
    elif worlds:
        mood = worlds[0]
    else:
        # Prompts that name no light still get a coherent one, chosen by the prompt + seed.
        weights = {"day": 24, "golden": 26, "dawn": 16, "dusk": 14, "night": 10, "misty": 10}
        allowed = [m for m in weights if m not in removed] or ["day"]
        odds = np.array([weights[m] for m in allowed], float)
        mood = str(rng.choice(allowed, p=odds / odds.sum()))
    chosen = set(tags)
    terrain = {"mountains", "hills", "water", "forest", "city", "desert", "space"}
    if mood != "space" and not chosen & terrain:
        # Nothing to stand on was named: compose a landscape from the prompt's hash.
        if rng.random() < 0.75:
            chosen.add("mountains")
        if rng.random() < 0.55:
            chosen.add("water")
        if rng.random() < 0.5 or "mountains" not in chosen:
            chosen.add("forest" if rng.random() < 0.6 else "hills")
    if mood == "space" or "space" in chosen:
        mood = "space"
        chosen |= {"stars"}
        if "planet" not in chosen and "galaxy" not in chosen and rng.random() < 0.6:
            chosen.add("planet")
    if mood in ("desert", "snow"):
        chosen.add(mood)
    if mood == "night" and "moon" not in removed:
        chosen |= {"moon", "stars"}
    if mood in ("golden", "dawn", "day", "desert", "snow", "dusk") and "sun" not in removed:
        chosen.add("sun")
    if mood in ("day", "golden", "dawn", "misty", "snow", "desert", "storm"):
        chosen.add("clouds")
    if mood == "storm":
        chosen.add("rain")
    chosen -= removed
    subjects = [t for t in tags if t in SUBJECTS]
    subject = subjects[0] if subjects else None

    base = colour.varied(colour.MOODS[mood], rng)
    for world in ("snow", "desert"):
        if world in chosen and mood != world:
            base = _lit_world(base, colour.MOODS[world], mood, world)
    if "autumn" in chosen:
        base = _with(base, foliage=colour.rgb("#b8561e"), ground=colour.rgb("#8a6a2a"))
    if "blossom" in chosen:
        base = _with(base, foliage=colour.rgb("#f0a8c0"))
    if palette:
        base = colour.from_user(palette, base)

    low_sun = mood in ("golden", "dawn", "dusk")
    horizon = float(rng.uniform(0.56, 0.7))
    if subject == "portrait":
        horizon = float(rng.uniform(0.62, 0.72))
    sun_x = float(rng.uniform(0.22, 0.78))
    # A low sun sits just above the horizon; any other light hangs high.
    sun_y = horizon - float(rng.uniform(0.04, 0.16)) if low_sun else float(rng.uniform(0.12, 0.3))
    return Plan(
        width=width,
        height=height,
        key=key,
        mood=mood,
        palette=base,
        tags=chosen,
        subject=subject,
        horizon=horizon,
        sun=(sun_x, sun_y),
        sun_radius=float(rng.uniform(0.035, 0.06)) * (1.6 if mood == "night" else 1.0),
        detail=int(np.clip(3 + steps // 10, 3, 8)),
        light_side=1.0 if sun_x > 0.5 else -1.0,
    )


def _with(palette: colour.Palette, **changes) -> colour.Palette:
    return replace(palette, **changes)


# How much light falls on the land under each light, for worlds painted in another one.
_BRIGHTNESS = {"night": 0.32, "dusk": 0.55, "storm": 0.6, "golden": 0.85, "dawn": 0.85}


def _lit_world(light: colour.Palette, world: colour.Palette, mood: str, kind: str):
    """The land colours of a world (snow, desert) under another mood's light."""
    k = _BRIGHTNESS.get(mood, 0.95)
    ground = colour.mix(world.ground, light.light, 0.3) * k
    if kind == "snow":
        # Snow keeps more of whatever light there is, in that light's colour.
        lit = colour.mix(np.ones(3, np.float32), light.light, 0.45)
        ground = colour.mix(lit, light.sky_horizon, 0.25) * max(k, 0.5)
    return _with(
        light,
        ground=ground.astype(np.float32),
        far=colour.mix(world.far * k, light.far, 0.5),
        near=colour.mix(world.near * k, light.near, 0.5),
    )
