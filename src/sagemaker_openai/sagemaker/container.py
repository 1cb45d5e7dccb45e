"""What deploy tells a target's container through its environment: the GPUs to shard over,
start-up timeouts its server enforces, and where a model it fetches itself comes from.

- GPUs: the instance type's count (instances.py) or a component's accelerators. SM_NUM_GPUS is
  our settings' tensor parallelism (image, lmi); DJL's entrypoint also maps it to
  TENSOR_PARALLEL_DEGREE and OPTION_TENSOR_PARALLEL_DEGREE is its own property
  (djl-serving v0.36.0 serving/docker/dockerd-entrypoint-with-cuda-compat.sh). hf-dlc runs the
  transformers engine, on one device (engines/transformers/engine.py refuses more): none is
  set there.
- Timeouts: DJL gives a model MODEL_LOADING_TIMEOUT seconds (1200 in its LMI image, 240 in the
  CPU image) and maps SAGEMAKER_STARTUP_TIMEOUT to option.model_loading_timeout (v0.36.0
  wlm/.../SageMakerCompatibility.java, engines/python/.../PyEnv.java); the HF toolkit's model
  server (MMS) answers within SAGEMAKER_MODEL_SERVER_TIMEOUT seconds, 60 by default, loading
  included (sagemaker-inference 1.10.1 environment.py, used by the toolkit 2.6.0). Both are
  raised to deploy's start-up health check timeout.
- A fetched model: DJL's option.model_id (an S3 prefix DJL syncs itself, or a Hub id the
  handler fetches), the toolkit's HF_MODEL_ID and HF_MODEL_REVISION, our serve's SMOAI_MODEL;
  an S3 prefix for hf-dlc is an AdditionalModelDataSource named by SMOAI_MODEL, the handler's
  code staying in /opt/ml/model/code where the toolkit reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model_folder import HubModel
from .resources import EXTRA_MOUNT


@dataclass(frozen=True)
class Fetched:
    """A model the container fetches at start: from the Hub, or under an S3 prefix."""

    hub: HubModel | None = None
    s3_prefix: str | None = None

    @property
    def name(self) -> str:
        if self.hub:
            return self.hub.name
        return (self.s3_prefix or "").rstrip("/").rpartition("/")[2]

    def describe(self, target: str) -> str:
        source = str(self.hub) if self.hub else f"{self.s3_prefix} (uncompressed)"
        how = {
            "lmi": "DJL's option.model_id",
            "hf-dlc": "the toolkit's HF_MODEL_ID" if self.hub else f"mounted at {EXTRA_MOUNT}",
            "image": "SMOAI_MODEL" if self.hub else "mounted at /opt/ml/model",
        }[target]
        return f"model {source}, fetched by the container at start ({how}); no weights uploaded"


def container_env(
    target: str, served_name: str, gpus: int | None, startup_timeout_s: int, fetched: Fetched | None
) -> dict[str, str]:
    """The environment deploy sets for `target` (the user's --env is applied over it)."""
    env: dict[str, str] = {}
    shard = target in ("image", "lmi") and gpus is not None and gpus > 0
    if target == "image":
        env["SMOAI_SERVED_MODEL_NAME"] = served_name
        if fetched and fetched.hub:
            env["SMOAI_MODEL"] = str(fetched.hub)
    elif target == "hf-dlc":
        # MMS starts one worker per CPU or GPU by default, each loading the whole model.
        env["SAGEMAKER_MODEL_SERVER_WORKERS"] = "1"
        env["SAGEMAKER_MODEL_SERVER_TIMEOUT"] = str(startup_timeout_s)
        if fetched and fetched.hub:
            env["HF_MODEL_ID"] = fetched.hub.repo_id
            if fetched.hub.revision:
                env["HF_MODEL_REVISION"] = fetched.hub.revision
        elif fetched and fetched.s3_prefix:
            env["SMOAI_MODEL"] = EXTRA_MOUNT  # the handler's model_fn serves it
    else:
        env["SAGEMAKER_STARTUP_TIMEOUT"] = str(startup_timeout_s)
        env["MODEL_LOADING_TIMEOUT"] = str(startup_timeout_s)
        if shard:
            env["OPTION_TENSOR_PARALLEL_DEGREE"] = str(gpus)
        if fetched and fetched.hub:
            env["OPTION_MODEL_ID"] = fetched.hub.repo_id
            if fetched.hub.revision:
                env["OPTION_REVISION"] = fetched.hub.revision
        elif fetched and fetched.s3_prefix:
            env["OPTION_MODEL_ID"] = fetched.s3_prefix
    if shard:
        env["SM_NUM_GPUS"] = str(gpus)
    return env


def describe_gpus(target: str, gpus: int | None, instance_type: str) -> str:
    if gpus is None:
        return f"GPUs of {instance_type} unknown: the container's default (--env SM_NUM_GPUS=N)"
    if gpus == 0:
        return "no GPU"
    if target == "hf-dlc":
        return f"1 of {gpus} GPU(s) (the transformers engine runs on one device)"
    return f"tensor parallel over {gpus} GPU(s)"
