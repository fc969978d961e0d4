"""Writes a GGUF chat model (for example the embedded model that `ugst setup` installs) as a
transformers folder (safetensors, float32, its tokenizer and chat template), so the training
recipes can start from a real instruct model without a model hub. The quantised weights are
dequantised on loading; the result is the GGUF's model, not the original float weights.

  python from_gguf.py --gguf ~/.cache/ugst/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --out runs/base
"""

import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True, help="a .gguf file")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not os.path.isfile(a.gguf):
        raise SystemExit(f"--gguf {a.gguf}: no such file (`ugst setup --model qwen2.5-coder-0.5b` installs one)")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(os.path.abspath(a.gguf))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The weights are plain tensors once loaded; forget the GGUF loader so the folder saves.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(a.out)
    tok.save_pretrained(a.out)
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": a.out, "gguf": a.gguf, "parameters": n, "chat_template": tok.chat_template is not None}))


if __name__ == "__main__":
    main()
