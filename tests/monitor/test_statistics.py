"""The statistics against reference implementations on the same windows: scipy's ks_2samp,
chi2.sf and jensenshannon, and PSI computed directly from its definition.

Tolerances: KS statistic 1e-12 (it is the same figure); KS p-value 0.01 absolute against
scipy's asymptotic method (naiad uses the Kolmogorov limit with Stephens' correction, scipy
the finite-n distribution at n = n_ref * n_cur / (n_ref + n_cur)); chi-square's p-value and
the Jensen-Shannon distance 1e-9; PSI 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from naiad.monitor import statistics as st

scipy_stats = pytest.importorskip("scipy.stats")
distance = pytest.importorskip("scipy.spatial.distance")


def _windows(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(4000, 5))
    current = np.column_stack(
        [
            rng.normal(size=400),
            rng.normal(0.2, 1.0, size=400),  # a small mean shift
            rng.normal(0.0, 1.5, size=400),  # a variance change
            np.round(rng.normal(size=400)),  # ties
            rng.exponential(size=400),
        ]
    )
    reference[:, 3] = np.round(reference[:, 3])
    return reference, current


@pytest.mark.parametrize("seed", range(5))
def test_ks_statistic_and_pvalue_match_scipy(seed: int) -> None:
    reference, current = _windows(seed)
    ks = st.ks_statistic(np.sort(reference.T, axis=1), current)
    pvalues = st.ks_pvalue(ks, reference.shape[0], current.shape[0])
    for column in range(reference.shape[1]):
        expected = scipy_stats.ks_2samp(reference[:, column], current[:, column], method="asymp")
        assert ks[column] == pytest.approx(expected.statistic, abs=1e-12)
        assert pvalues[column] == pytest.approx(expected.pvalue, abs=0.01)


def test_ks_of_identical_samples_is_zero_with_pvalue_one() -> None:
    sample = np.arange(100, dtype=np.float64).reshape(-1, 1)
    assert st.ks_statistic(sample.T, sample)[0] == 0.0
    assert st.ks_pvalue(np.array([0.0]), 100, 100)[0] == 1.0


def _direct_psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    # The definition, one feature at a time: decile bins of the reference, shares, epsilon.
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins)
    p = np.maximum(ref / ref.sum(), 1e-4)
    q = np.maximum(cur / cur.sum(), 1e-4)
    return float(sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True)))


@pytest.mark.parametrize("seed", range(5))
def test_psi_matches_a_direct_computation(seed: int) -> None:
    reference, current = _windows(seed)
    edges = st.quantile_edges(reference, 10)
    found = st.psi(st.bin_counts(reference, edges), st.bin_counts(current, edges))
    for column in range(reference.shape[1]):
        expected = _direct_psi(reference[:, column], current[:, column], 10)
        assert found[column] == pytest.approx(expected, abs=1e-12)


def test_psi_of_a_bin_seen_on_one_side_only_stays_finite() -> None:
    value = st.psi(np.array([[50.0, 50.0, 0.0]]), np.array([[0.0, 50.0, 50.0]]))[0]
    assert math.isfinite(value) and value > 1.0


@pytest.mark.parametrize(
    ("x", "dof"), [(0.5, 1), (3.2, 2), (12.3, 7), (200.0, 150), (1e-3, 40), (80.0, 3)]
)
def test_chi2_sf_matches_scipy(x: float, dof: int) -> None:
    assert st.chi2_sf(x, dof) == pytest.approx(scipy_stats.chi2.sf(x, dof), abs=1e-9)


def test_chi_square_matches_scipy_chisquare() -> None:
    reference = np.array([0.5, 0.3, 0.2])
    observed = np.array([40.0, 35.0, 25.0])
    statistic, p = st.chi_square(reference, observed)
    expected = scipy_stats.chisquare(observed, reference * observed.sum())
    assert statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert p == pytest.approx(expected.pvalue, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_jensen_shannon_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, 50, size=8).astype(float), rng.integers(0, 50, size=8).astype(float)
    assert st.jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q), abs=1e-9)


def test_confidence_of_distributions_and_logits() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    assert st.is_distribution(probabilities)
    assert not st.is_distribution(np.array([[2.0, -1.0, 0.5]]))
    assert st.max_probability(probabilities).tolist() == pytest.approx([0.7, 1 / 3])
    entropy = st.normalised_entropy(probabilities)
    assert entropy[1] == pytest.approx(1.0) and 0 < entropy[0] < 1
    assert st.softmax(np.log(probabilities)) == pytest.approx(probabilities)
