"""The stripe generator reproduces StillMix's construction exactly (golden hashes of the reference)."""

import hashlib
import json
import math

import numpy as np
import pytest

from benchmark.backgrounds import (
    StripeParams,
    generate_background,
    sample_stripe_params,
    stripe_image,
)

GOLDEN = [
    (
        StripeParams((0.1, 0.6, 0.9), 12.5, 48.0, 2 * math.pi / 350, -3.0, 60.0, 33.0),
        "602150bec583deb079ad1bd286fdb60f5219b9ab21cbd0dca42f7a7a03a81d14",
    ),
    (
        StripeParams((0.95, 0.2, 0.4), 5.5, 17.0, 2 * math.pi / 8, 1.5, 105.0, 271.25),
        "370ef7b8c07606e9eebd24043df54eff4a8e67e34f80ade2b3d11a5fa1548d26",
    ),
    (
        StripeParams((0.5, 0.5, 0.05), 19.0, 90.0, 2 * math.pi / 900, 40.0, 12.0, 0.0),
        "e459d29f3d1d3b2646ab555237f62d3c52a5fe9e80e7ebf85dddb666a50c012c",
    ),
]


@pytest.mark.parametrize(("params", "sha256"), GOLDEN)
def test_stripe_image_matches_golden_hash(params, sha256):
    image = stripe_image(params)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest() == sha256


def test_stripe_image_has_exactly_two_complementary_colours_and_no_black_corners():
    params = GOLDEN[0][0]
    colours = np.unique(stripe_image(params).reshape(-1, 3), axis=0)
    assert len(colours) == 2
    expected = {
        tuple((np.array(params.color) * 255).astype(np.uint8)),
        tuple(((1 - np.array(params.color)) * 255).astype(np.uint8)),
    }
    assert {tuple(c) for c in colours} == expected


def test_sampler_follows_the_protocol_ranges_and_is_seeded():
    draws = [sample_stripe_params(np.random.default_rng(seed)) for seed in range(200)]
    for p in draws:
        assert all(0 <= c < 1 for c in p.color)
        assert 5 <= p.half_width < 20
        assert 3 * p.half_width <= p.spacing < 5 * p.half_width
        period = 2 * math.pi / p.omega
        assert 4 <= period < 1004
        assert -100 <= p.phase / p.omega < 100
        assert 10 <= p.amplitude < 110 and 0 <= p.angle_deg < 360
    assert sample_stripe_params(np.random.default_rng(7)) == sample_stripe_params(
        np.random.default_rng(7)
    )
    # Every sampled image is a valid two-colour stripe image (no black rotation corners).
    for p in draws[:6]:
        assert len(np.unique(stripe_image(p).reshape(-1, 3), axis=0)) == 2


def test_generated_background_is_per_item_and_records_its_params():
    image, params = generate_background("stripe", 3, "stripe", "vid_a", 0)
    again, params_again = generate_background("stripe", 3, "stripe", "vid_a", 0)
    other, _ = generate_background("stripe", 3, "stripe", "vid_a", 1)
    assert np.array_equal(image, again) and params == params_again
    assert not np.array_equal(image, other)
    # The recorded params regenerate the same image.
    assert np.array_equal(
        stripe_image(
            StripeParams(**{**json.loads(params), "color": tuple(json.loads(params)["color"])})
        ),
        image,
    )


def test_non_positive_spacing_is_rejected():
    with pytest.raises(ValueError, match="spacing"):
        stripe_image(StripeParams((0.1, 0.2, 0.3), 5.0, 0.0, 0.1, 0.0, 10.0, 0.0))
