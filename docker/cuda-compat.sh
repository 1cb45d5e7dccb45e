#!/bin/bash
# Use CUDA's forward-compatibility libraries when the host's NVIDIA driver is older than they
# support, as https://docs.aws.amazon.com/sagemaker/latest/dg/inference-gpu-drivers.html says
# (the same check as DJL Serving's dockerd-entrypoint-with-cuda-compat.sh), then run the command.
if [ -f /usr/local/cuda/compat/libcuda.so.1 ]; then
  compat=$(readlink /usr/local/cuda/compat/libcuda.so.1 | cut -d'.' -f 3-)
  driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader --id=0 2>/dev/null || true)
  if [ -n "$driver" ] && [ "$(printf '%s\n%s\n' "$driver" "$compat" | sort -V | head -n1)" = "$driver" ] \
     && [ "$driver" != "$compat" ]; then
    export LD_LIBRARY_PATH=/usr/local/cuda/compat${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
fi
exec "$@"
