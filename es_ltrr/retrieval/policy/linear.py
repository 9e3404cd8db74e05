"""A bank of Bayesian linear regressions: one per (arm, depth), all over the same features.

Each model predicts P(the arm's list within that depth holds an engaged entity | context)
as a linear function with a Gaussian prior and Gaussian noise (linear Thompson sampling,
Agrawal & Goyal 2013). The posterior is closed-form:

    precision = λ·I + Σ x xᵀ          mean = precision⁻¹ (λ·μ₀ + Σ r x)

and for one context x the prediction xᵀθ is a 1-D Gaussian with mean xᵀmean and variance
σ²·xᵀ precision⁻¹ x, so a policy samples one number per model instead of a whole θ, and
thousands of draws for propensities cost microseconds. Forgetting (`discount` < 1) decays
every model towards its prior before each update, so old evidence fades under drift.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


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
        outer = np.outer(x, x)
        for model, reward in zip(models, rewards):
            self.precision_[model] += outer
            self.b_[model] += reward * x
            self.n_obs_[model] += 1
        self._refresh(None if self.discount < 1.0 else np.unique(models))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per model: mean and standard deviation of the prediction xᵀθ at context `x`."""
        mean = self.mean_ @ x
        var = np.einsum("i,kij,j->k", x, self.cov_, x)
        return mean, self.noise * np.sqrt(np.maximum(var, 0.0))

    def state(self) -> dict[str, Any]:
        return {"precision": self.precision_.tolist(), "b": self.b_.tolist(), "n_obs": self.n_obs_.tolist()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        precision, b = np.asarray(state["precision"], float), np.asarray(state["b"], float)
        if precision.shape != self.precision_.shape or b.shape != self.b_.shape:
            raise ValueError(f"policy state has {precision.shape} precision matrices, expected {self.precision_.shape}")
        self.precision_, self.b_ = precision, b
        self.n_obs_ = np.asarray(state["n_obs"], float)
        self._refresh()
