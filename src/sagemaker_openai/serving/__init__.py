"""The HTTP host: the ASGI app (server), its uvicorn server with drain and header bounds
(http_server), one invocation's walk from body to reply (invocation), the serving state /ping
reports (runtime), and the per-endpoint state requests share (sessions, LoRA adapters).

The hosts of DJL and the Hugging Face toolkit (../hosts) answer through invocation too. The
chat service below this layer does not import it: admission and the body limits stay beside
chat and protocol, the layers that use them."""
