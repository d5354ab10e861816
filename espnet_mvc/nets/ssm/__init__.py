"""State-space core: Mamba (mamba_ssm-compatible), selective scans, Bi-Mamba blocks."""

from espnet_mvc.nets.ssm.adaln import AdaLN
from espnet_mvc.nets.ssm.bidirectional import check_lengths, reverse_within_length
from espnet_mvc.nets.ssm.gated_bimamba import BiMambaStack, BiMambaStackConfig, GatedBiMambaBlock
from espnet_mvc.nets.ssm.mamba import Mamba, MambaState
from espnet_mvc.nets.ssm.selective_scan import selective_scan, selective_scan_ref

__all__ = [
    "AdaLN",
    "BiMambaStack",
    "BiMambaStackConfig",
    "GatedBiMambaBlock",
    "Mamba",
    "MambaState",
    "check_lengths",
    "reverse_within_length",
    "selective_scan",
    "selective_scan_ref",
]
