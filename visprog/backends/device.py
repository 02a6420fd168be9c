"""Where the pretrained backends run their models: CUDA when present, else the CPU."""


def best_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"
