"""The `attribution` config section: which TRAK engine, projection, ensemble, batching and device."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from olab.config import Section


class AttributionConfig(Section):
    """TRAK attribution of an adapter's behaviour on targets to its training records."""

    engine: Literal["olab", "traker"] = Field(
        "olab",
        description="'olab': LoRA-native featurizer (one batched forward+backward per batch, device-independent "
        "projection); 'traker': the traker 0.3.2 package, kept as the reference implementation.",
    )
    proj_dim: int | None = Field(
        2048,
        ge=0,
        description="Dimension k of the random projection of per-example gradients; 0 or null disables "
        "projection (exact TRAK on the full adapter gradient, only for small adapters).",
    )
    projection: Literal["auto", "dense", "kronecker"] = Field(
        "auto",
        description="'dense': a Gaussian matrix per parameter block (exact JL); 'kronecker': two small Gaussian "
        "matrices per block (R1ᵀ G R2, the identity on a side kept whole such as LoRA's rank), cheaper and "
        "needed for adapters with millions of parameters; "
        "'auto': dense while its matrix (parameters × k floats) stays under 1 GiB, else kronecker.",
    )
    proj_seed: int = Field(
        0,
        ge=0,
        description="Seed of the projection matrix: the same seed gives the same features on any machine and device.",
    )
    checkpoints: Literal["last", "all"] = Field(
        "last",
        description="Ensemble members per adapter: 'last' uses each adapter's final weights, 'all' every saved "
        "checkpoint. Scores are averaged over all members of all adapters.",
    )
    batch_size: int | None = Field(
        None,
        gt=0,
        description="Examples per forward+backward when featurizing; null picks 32 on CPU and, on CUDA, the "
        "largest of 512, 256, ... whose longest examples featurize in the GPU's memory (64 for traker).",
    )
    max_length: int = Field(128, gt=0, description="Token limit per example (truncation), as in fine-tuning.")
    damping: float = Field(
        100.0,
        ge=0,
        description="Ridge term added to Φ^TΦ, relative to its mean non-zero eigenvalue: "
        "λ = damping · trace(Φ^TΦ) / min(n_train, k). Scale-free, so one value fits any model, projection "
        "dimension and training-set size. 100 was best by LDS on AG News with 500 and 1,000 training examples "
        "(0.49 and 0.68 against 0.10 and 0.18 at 0.01; experiments/lds); 0 is TRAK's undamped inverse.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where to featurize: 'auto' picks CUDA when available, else CPU."
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Autocast dtype of the forward pass: 'auto' is fp32 on CPU and bf16 on CUDA where "
        "supported. Gradients, projection and scoring always run in float32/float64.",
    )
    score_block_size: int = Field(
        4096, gt=0, description="Training rows scored per block; bounds memory for train x targets of any size."
    )
    n_targets: int | None = Field(
        None, gt=0, description="Use at most this many targets (the first ones); null uses all."
    )
    executor: Literal["local", "ray"] = Field(
        "local",
        description="'local': featurize and score in this process; 'ray' (engine olab only, `pip install "
        "olab[ray]`): featurization shards and scoring blocks run on a pool of Ray actors, features go to "
        "shard_storage. Both give bit-identical scores on CPU, whatever the number of workers.",
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster to join ('auto', 'host:6379' or 'ray://host:10001'); null joins the Ray already "
        "initialised in this process, else starts a one-machine Ray with num_workers CPUs.",
    )
    num_workers: int = Field(2, gt=0, description="Ray actors (each holds one model) featurizing and scoring.")
    cpus_per_worker: int = Field(1, gt=0, description="CPUs (and torch threads) each Ray actor reserves.")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs each Ray actor reserves (fractions share one GPU).")
    shard_size: int = Field(
        256,
        gt=0,
        description="Examples per featurization shard (rounded up to a multiple of batch_size): the unit of "
        "work a Ray actor does, stores, and redoes after a failure. Local runs sum ΦᵀΦ over the same shards. Each "
        "stored shard also holds its k × k ΦᵀΦ in float64: at scale keep shard_size >= proj_dim, so that is no "
        "larger than the shard's features.",
    )
    shard_storage: str | None = Field(
        None,
        description="fsspec URL under which Ray workers write feature shards (e.g. s3://bucket/olab-shards); it must "
        "be reachable from every node. null: a folder beside the output. An interrupted job resumes from the "
        "shards found there.",
    )

    @model_validator(mode="after")
    def _ray_runs_olab(self) -> AttributionConfig:
        if self.executor == "ray" and self.engine != "olab":
            raise ValueError(
                f"executor 'ray' runs engine 'olab' only (got engine {self.engine!r}): set engine: olab, or executor: local"
            )
        return self
