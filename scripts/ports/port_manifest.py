"""What the reference scripts beside this file write into ``tests/manifests/*.json`` about a model."""
import torch


def state_dict_manifest(model: torch.nn.Module) -> dict:
    """The parameter count and the state dict's keys and shapes (a model on the meta device will do)."""
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()}}
