"""Errors answered as SageMaker Runtime answers them: a JSON body plus x-amzn-ErrorType."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response


@dataclass
class ServiceError(Exception):
    """An error answered as SageMaker Runtime does: JSON body plus x-amzn-ErrorType."""

    status: int
    error_type: str
    message: str
    fields: Mapping[str, object] | None = None

    def to_response(self, request_id: str) -> Response:
        body = {"Message": self.message, **(self.fields or {})}
        headers = {"x-amzn-ErrorType": self.error_type, "x-amzn-RequestId": request_id}
        return JSONResponse(body, status_code=self.status, headers=headers)


def validation_error(message: str) -> ServiceError:
    return ServiceError(400, "ValidationError", message)


def model_error(name: str, status: int, original: str, region: str, account: str) -> ServiceError:
    """SageMaker's 424 for any non-2xx from the container, with the container's own words."""
    group = f"/aws/sagemaker/Endpoints/{name}"
    kind = "client" if 400 <= status < 500 else "server"
    message = (
        f'Received {kind} error ({status}) from primary with message "{original}". See '
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group={group} in account {account} for more information."
    )
    fields = {
        "OriginalStatusCode": status,
        "OriginalMessage": original,
        "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{group}",
        "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
    }
    return ServiceError(424, "ModelError", message, fields)
