"""A first GPU deployment against moto's SageMaker and S3 (moto 5.2.5 keeps a production
variant's InferenceAmiVersion as given): the host AMI for the image's CUDA, every GPU of the
instance told to the container, start-up timeouts the container's own server enforces, and
models from the Hugging Face Hub or an S3 prefix that the container fetches itself."""

from __future__ import annotations

import io
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from deploy_options import deploy_options
from moto import mock_aws

from sagemaker_openai.cli import main
from sagemaker_openai.sagemaker.client import SageMakerClient
from sagemaker_openai.sagemaker.deploy import deploy
from sagemaker_openai.sagemaker.errors import InvalidInput
from sagemaker_openai.sagemaker.options import DeployOptions

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NAME = "chat-ep-20250102-030405"
HUB = "hf://HuggingFaceTB/SmolLM2-135M-Instruct"
CU13_AMI = "al2023-ami-sagemaker-inference-gpu-4-1"  # deep-learning-containers' CU13 pin


class Quiet:
    def upload(self, total_bytes: int):
        return lambda n: None

    def status(self, text: str) -> None:
        pass

    def done(self) -> None:
        pass


@pytest.fixture
def aws():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket="models-bucket")
        yield session


def _opts(model: str, **kw) -> DeployOptions:
    base = dict(
        model=model,
        endpoint_name="chat-ep",
        instance_type="ml.g4dn.12xlarge",
        role=ROLE,
        region="us-east-1",
        bucket="models-bucket",
        online_deps=True,  # the wheels are not what is tested here
    )
    base.update(kw)
    return deploy_options(**base)


def _deployed(session: boto3.Session) -> tuple[dict, dict]:
    sm = session.client("sagemaker")
    model = sm.describe_model(ModelName=NAME)["PrimaryContainer"]
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=NAME)["ProductionVariants"]
    return model, variant


def test_default_target_on_four_gpus_gets_the_cuda13_ami_and_all_gpus(
    aws, small_model_dir: Path
) -> None:
    """lmi's djl-inference:0.36.0-lmi28.0.0-cu130 on ml.g4dn.12xlarge (4 T4, EC2's record)."""
    deploy(_opts(str(small_model_dir)), SageMakerClient(aws), io.StringIO(), Quiet(), now=NOW)
    model, variant = _deployed(aws)
    assert variant["InferenceAmiVersion"] == CU13_AMI
    env = model["Environment"]
    assert env["SM_NUM_GPUS"] == "4"  # our settings' tensor parallelism; DJL maps it too
    assert env["OPTION_TENSOR_PARALLEL_DEGREE"] == "4"  # DJL's own property
    startup = variant["ContainerStartupHealthCheckTimeoutInSeconds"]
    # DJL's loading timeouts (1200 s in the LMI image) raised to deploy's start-up timeout
    assert env["MODEL_LOADING_TIMEOUT"] == env["SAGEMAKER_STARTUP_TIMEOUT"] == str(startup)


def test_hf_dlc_raises_the_model_server_timeout_and_keeps_one_gpu(
    aws, small_model_dir: Path
) -> None:
    opts = _opts(str(small_model_dir), target="hf-dlc")
    deploy(opts, SageMakerClient(aws), io.StringIO(), Quiet(), now=NOW)
    model, variant = _deployed(aws)
    # huggingface-pytorch-inference ...-cu124: CUDA 12, driver 550's AMI (DLC's CU12 pin)
    assert variant["InferenceAmiVersion"] == "al2-ami-sagemaker-inference-gpu-3-1"
    env = model["Environment"]
    # MMS's default_response_timeout (60 s, sagemaker-inference 1.10.1) covers the load
    assert env["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == str(
        variant["ContainerStartupHealthCheckTimeoutInSeconds"]
    )
    assert "SM_NUM_GPUS" not in env  # the transformers engine runs on one device


def test_the_ami_and_gpus_can_be_overridden(aws, small_model_dir: Path) -> None:
    opts = _opts(str(small_model_dir), inference_ami="default", env=("SM_NUM_GPUS=2",))
    deploy(opts, SageMakerClient(aws), io.StringIO(), Quiet(), now=NOW)
    model, variant = _deployed(aws)
    assert "InferenceAmiVersion" not in variant
    assert model["Environment"]["SM_NUM_GPUS"] == "2"  # --env wins
    with pytest.raises(InvalidInput) as e:
        deploy(_opts(str(small_model_dir), inference_ami="al2-nope"), None, io.StringIO(), Quiet())
    assert e.value.param == "--inference-ami"


def _uploaded(session: boto3.Session) -> list[str]:
    s3 = session.client("s3")
    names = []
    for bucket in s3.list_buckets()["Buckets"]:
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            names.append(f"{bucket['Name']}/{obj['Key']}")
            if obj["Key"].endswith(".tar.gz"):
                body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
                with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                    names += [f"  {m}" for m in tar.getnames()]
    return names


def test_deploy_of_a_hub_model_uploads_no_weights(aws, capsys) -> None:
    """lmi: the handler's tarball alone; DJL's option.model_id names the Hub id."""
    argv = ["deploy", "--model", HUB, "--endpoint-name", "chat-ep", "--role", ROLE]
    argv += ["--instance-type", "ml.g4dn.12xlarge", "--online-deps", "--region", "us-east-1"]
    assert main([*argv, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert f"model {HUB}, fetched by the container at start (DJL's option.model_id)" in plan
    assert "OPTION_MODEL_ID=HuggingFaceTB/SmolLM2-135M-Instruct" in plan
    assert _uploaded(aws) == []  # a dry run calls nothing
    assert main(argv) == 0
    sm = aws.client("sagemaker")
    (summary,) = sm.list_models()["Models"]
    container = sm.describe_model(ModelName=summary["ModelName"])["PrimaryContainer"]
    assert container["Environment"]["OPTION_MODEL_ID"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    uploaded = _uploaded(aws)
    assert any(name.endswith("model.py") for name in uploaded), uploaded
    assert not any(name.endswith((".safetensors", "config.json")) for name in uploaded)


def test_image_target_fetches_a_hub_model_itself(aws) -> None:
    opts = _opts(HUB, target="image", image_uri="1.dkr.ecr.us-east-1.amazonaws.com/mine:1")
    deploy(opts, SageMakerClient(aws), io.StringIO(), Quiet(), now=NOW)
    model, variant = _deployed(aws)
    assert model["Environment"]["SMOAI_MODEL"] == HUB  # serve fetches it before loading
    # the download happens inside the start-up health check: the API's maximum for it
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 3600
    assert model["Environment"]["SMOAI_SERVED_MODEL_NAME"] == "SmolLM2-135M-Instruct"
    assert "ModelDataUrl" not in model and "ModelDataSource" not in model
    assert variant["InferenceAmiVersion"] == CU13_AMI  # docker/Dockerfile.gpu: CUDA 13
    assert _uploaded(aws) == []


def test_an_s3_prefix_is_mounted_or_synced_uncompressed(aws) -> None:
    prefix = "s3://models-bucket/llama/"
    image = _opts(prefix, target="image", image_uri="1.dkr.ecr.us-east-1.amazonaws.com/mine:1")
    deploy(image, SageMakerClient(aws), io.StringIO(), Quiet(), now=NOW)
    model, _ = _deployed(aws)
    assert model["ModelDataSource"]["S3DataSource"] == {
        "S3Uri": prefix,
        "S3DataType": "S3Prefix",
        "CompressionType": "None",
    }
    assert model["Environment"]["SMOAI_SERVED_MODEL_NAME"] == "llama"
    plan = deploy(_opts(prefix, endpoint_name="chat-lmi"), None, io.StringIO(), Quiet(), now=NOW)
    (create,) = [s for s in plan.steps if type(s).__name__ == "CreateModel"]
    assert dict(create.env)["OPTION_MODEL_ID"] == prefix  # DJL syncs it with s5cmd


def test_hf_dlc_mounts_an_s3_prefix_beside_its_handler(aws) -> None:
    """The toolkit reads code/ from /opt/ml/model: the handler's tarball is the model data and
    the prefix an AdditionalModelDataSource (botocore's ContainerDefinition)."""
    prefix = "s3://models-bucket/llama/"
    deploy(_opts(prefix, target="hf-dlc"), SageMakerClient(aws), io.StringIO(), Quiet(), now=NOW)
    model, _ = _deployed(aws)
    assert model["AdditionalModelDataSources"] == [
        {
            "ChannelName": "model",
            "S3DataSource": {"S3Uri": prefix, "S3DataType": "S3Prefix", "CompressionType": "None"},
        }
    ]
    assert model["Environment"]["SMOAI_MODEL"] == "/opt/ml/additional-model-data-sources/model"
    assert model["ModelDataUrl"].endswith("/model.tar.gz")
    uploaded = _uploaded(aws)
    assert any(n.endswith("code/inference.py") for n in uploaded), uploaded
    assert not any(n.endswith(".safetensors") for n in uploaded)


def test_hf_dlc_names_the_hub_model_to_its_toolkit() -> None:
    """sagemaker-huggingface-inference-toolkit 2.6.0 mms_model_server.py downloads HF_MODEL_ID
    at HF_MODEL_REVISION and still imports code/inference.py from /opt/ml/model."""
    plan = deploy(_opts(HUB + "@v1", target="hf-dlc"), None, io.StringIO(), Quiet(), now=NOW)
    (package,) = [s for s in plan.steps if type(s).__name__ == "Package"]
    assert package.model_dir is None  # the handler alone
    (create,) = [s for s in plan.steps if type(s).__name__ == "CreateModel"]
    env = dict(create.env)
    assert (env["HF_MODEL_ID"], env["HF_MODEL_REVISION"]) == (HUB.removeprefix("hf://"), "v1")


def test_a_component_tells_its_copy_its_own_accelerators(small_model_dir: Path) -> None:
    """ml.g5.12xlarge has 4 GPUs; a copy of a small model gets 1
    (NumberOfAcceleratorDevicesRequired), and that is what its container is told."""
    opts = _opts(
        str(small_model_dir),
        target="image",
        image_uri="1.dkr.ecr.us-east-1.amazonaws.com/mine:1",
        instance_type="ml.g5.12xlarge",
        inference_component="chat-ic",
    )
    plan = deploy(opts, None, io.StringIO(), Quiet(), now=NOW)
    (create,) = [s for s in plan.steps if type(s).__name__ == "CreateModel"]
    (component,) = [s for s in plan.steps if type(s).__name__ == "CreateInferenceComponent"]
    assert component.reqs.accelerators == 1
    assert dict(create.env)["SM_NUM_GPUS"] == "1"
    with pytest.raises(InvalidInput, match="sizes each copy from the model folder"):
        deploy(_opts(HUB, inference_component="chat-ic"), None, io.StringIO(), Quiet())
