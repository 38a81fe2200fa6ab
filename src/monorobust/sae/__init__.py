"""TopK sparse autoencoder trained post hoc on (L2-normalised) CL features.

    from monorobust.sae import SAEConfig, train_sae
    result = train_sae(features, SAEConfig(width=512, k=64), seed=0)
    result.stats            # fvu, nmse, mean_l0, dead_fraction
    latents = result.model.encode(preprocess(features, cfg))
"""

from monorobust.sae.cache import fit_cached
from monorobust.sae.config import SAEConfig
from monorobust.sae.loss import auxk_loss, fvu, normalized_mse
from monorobust.sae.model import TopKSAE
from monorobust.sae.train import (
    SAEResult, SAEStats, check_sae_input, evaluate_sae, latent_map, load_sae, preprocess, save_sae,
    train_sae,
)

__all__ = ["SAEConfig", "SAEResult", "SAEStats", "TopKSAE", "auxk_loss", "check_sae_input",
           "evaluate_sae", "fit_cached", "fvu", "latent_map", "load_sae", "normalized_mse",
           "preprocess", "save_sae", "train_sae"]
