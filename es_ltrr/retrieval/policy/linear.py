"""A bank of Bayesian linear regressions: one per (arm, depth), all over the same features.

Each model predicts P(the arm's list within that depth holds an engaged entity | context)
as a linear function with a Gaussian prior and Gaussian noise (linear Thompson sampling,
Agrawal & Goyal 2013). The posterior is closed-form:

    precision = λ·I + Σ x xᵀ          mean = precision⁻¹ (λ·μ₀ + Σ r x)

and for one context x the prediction xᵀθ is a 1-D Gaussian with mean xᵀmean and variance
σ²·xᵀ precision⁻¹ x, so a policy samples one number per model instead of a whole θ, and
thousands of draws for propensities cost microseconds. Forgetting (`discount` < 1) decays
every model towards its prior before each update, so old evidence fades under drift.

The noise σ is learned per model too: the prior guess `noise` counts as `NOISE_PRIOR_OBS`
observations, pooled with the model's own residuals (σ² = (ν₀σ₀² + SSR) / (ν₀ + n), the
conjugate update's point estimate). Why: a page gain beyond the floors is 0 on most searches,
so its real spread is far below any guess that allows for gains near 1, and a fixed guess
kept the posteriors wide: Thompson kept buying depth that did not pay (at 800 searches it
served 76 % of all arms' candidates for the page quality random depths had at 54 %).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

#: How many observations the prior guess of the noise is worth against a model's residuals.
NOISE_PRIOR_OBS = 20.0


class BayesLinearBank:
    """`n_models` ridge posteriors over `dim` features, updated and queried together."""

    def __init__(self, n_models: int, dim: int, prior_mean: np.ndarray | None = None,
                 prior_precision: float = 1.0, noise: float = 0.5, discount: float = 1.0):
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.n_models, self.dim = n_models, dim
        self.prior_precision, self.noise, self.discount = prior_precision, noise, discount
        self.prior_mean = np.zeros((n_models, dim)) if prior_mean is None else np.asarray(prior_mean, float)
        self.precision_ = np.broadcast_to(prior_precision * np.eye(dim), (n_models, dim, dim)).copy()
        self.b_ = prior_precision * self.prior_mean.copy()
        self.n_obs_ = np.zeros(n_models)
        #: Σ r² per model: with the posterior, the residuals' sum of squares (`noise_`).
        self.rr_ = np.zeros(n_models)
        self._refresh()

    def _refresh(self, models: np.ndarray | None = None) -> None:
        """Recompute covariance and mean (of `models` only, when just they changed)."""
        if models is None:
            self.cov_ = np.linalg.inv(self.precision_)
            self.mean_ = np.einsum("kij,kj->ki", self.cov_, self.b_)
        elif len(models):
            self.cov_[models] = np.linalg.inv(self.precision_[models])
            self.mean_[models] = np.einsum("kij,kj->ki", self.cov_[models], self.b_[models])

    def learn(self, x: np.ndarray, models: np.ndarray, rewards: np.ndarray) -> None:
        """Add one observation `rewards[i]` for model `models[i]`, all at context `x`."""
        if self.discount < 1.0:
            keep = self.discount
            prior = self.prior_precision * np.eye(self.dim)
            self.precision_ = keep * self.precision_ + (1 - keep) * prior
            self.b_ = keep * self.b_ + (1 - keep) * self.prior_precision * self.prior_mean
            self.n_obs_ *= keep
            self.rr_ *= keep
        outer = np.outer(x, x)
        for model, reward in zip(models, rewards):
            self.precision_[model] += outer
            self.b_[model] += reward * x
            self.n_obs_[model] += 1
            self.rr_[model] += reward * reward
        self._refresh(None if self.discount < 1.0 else np.unique(models))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per model: mean and standard deviation of the prediction xᵀθ at context `x`."""
        mean = self.mean_ @ x
        var = np.einsum("i,kij,j->k", x, self.cov_, x)
        return mean, self.noise_() * np.sqrt(np.maximum(var, 0.0))

    def noise_(self) -> np.ndarray:
        """Per model, the noise σ: the prior guess pooled with the residuals at the posterior
        mean (module docstring)."""
        ssr = np.maximum(self.rr_ + self._fit_terms(), 0.0)
        return np.sqrt((NOISE_PRIOR_OBS * self.noise ** 2 + ssr) / (NOISE_PRIOR_OBS + self.n_obs_))

    def _fit_terms(self) -> np.ndarray:
        """SSR − Σr² at the posterior mean θ: −2θᵀΣrx + θᵀ(Σxxᵀ)θ, from the running sums."""
        data_b = self.b_ - self.prior_precision * self.prior_mean
        data_xx = self.precision_ - self.prior_precision * np.eye(self.dim)
        theta = self.mean_
        return -2 * np.einsum("ki,ki->k", theta, data_b) + np.einsum("ki,kij,kj->k", theta, data_xx, theta)

    def state(self) -> dict[str, Any]:
        return {"precision": self.precision_.tolist(), "b": self.b_.tolist(), "n_obs": self.n_obs_.tolist(),
                "rr": self.rr_.tolist()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        precision, b = np.asarray(state["precision"], float), np.asarray(state["b"], float)
        if precision.shape != self.precision_.shape or b.shape != self.b_.shape:
            raise ValueError(f"policy state has {precision.shape} precision matrices, expected {self.precision_.shape}")
        self.precision_, self.b_ = precision, b
        self.n_obs_ = np.asarray(state["n_obs"], float)
        self._refresh()
        # a state saved before the noise was learned: its residuals unknown, the prior guess holds
        self.rr_ = (np.asarray(state["rr"], float) if "rr" in state
                    else self.noise ** 2 * self.n_obs_ - self._fit_terms())
