"""Helpers shared by the MVC tests and the scripts they run (``mvc_ddp_worker.py``,
``inference_record.py``); the pytest fixtures are in ``conftest.py``."""

import torch


def randomize_zero_inits(model: torch.nn.Module, std: float = 0.1) -> torch.nn.Module:
    """Draw the layers an untrained MVC starts at zero (AdaLN's style projections, the flow
    estimator's output conv) from N(0, std²), in module order, from torch's global generator.

    At zero they would hide most of the network: outputs independent of the style, most
    gradients zero.

    Args:
        model (MVC): The model, changed in place.
        std (float): Standard deviation of the drawn weights and biases.

    Returns:
        The model.
    """
    from espnet_mvc.nets.ssm.adaln import AdaLN

    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, AdaLN) and mod.style_dim is not None:
                torch.nn.init.normal_(mod.to_scale_shift.weight, std=std)
                torch.nn.init.normal_(mod.to_scale_shift.bias, std=std)
        torch.nn.init.normal_(model.decoder.estimator.out.weight, std=std)
        torch.nn.init.normal_(model.decoder.estimator.out.bias, std=std)
    return model
