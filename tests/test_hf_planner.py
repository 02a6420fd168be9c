"""The transformers planner: a tiny random Llama and a character tokenizer built here.

Whatever a random model prefers, grammar-constrained decoding must give
programs that parse and check against the registry.
"""

import string

import pytest

import tokenizers  # noqa: F401
import torch
import transformers  # noqa: F401

from visprog import check, parse  # noqa: E402
from visprog.planners import grammar as G  # noqa: E402
from visprog.planners.hf import HFPlannerChat, ProgramPrefix, hf_planner  # noqa: E402
from visprog.tools import registry  # noqa: E402


def make_tiny_llm(folder, seed=0):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    chars = sorted(set(string.printable) - set("\x0b\x0c\r"))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>",
                                  eos_token="</s>", pad_token="<pad>")
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=16384, bos_token_id=1, eos_token_id=2,
                         pad_token_id=3)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory):
    return str(make_tiny_llm(tmp_path_factory.mktemp("tiny-llama")))


def test_prefix_accepts_canonical_programs_and_rejects_bad_ones():
    good = ("ANSWER0=Vqa(image=LEFT, question='How many dogs are in the image?')\n"
            "ANSWER1=Eval(expr=\"'yes' if {ANSWER0} > 2 and not {ANSWER0} == 5 else 'no'\")\n"
            "FINAL=Result(var=ANSWER1)\n")
    prefix = ProgramPrefix(registry, ["LEFT", "RIGHT"])
    configs = prefix.feed(good)
    assert configs and prefix.can_end(configs)
    for bad in ["ANSWER0=Foo(", "ANSWER0=Vqa(img=", "ANSWER0=Vqa(image=IMAGE",
                "ANSWER0=Count(box=BOX0)", "ANSWER0=Eval(expr=\"{ANSWER9}",
                "FINAL=Result(var=LEFT)\nFINAL="]:
        assert not ProgramPrefix(registry, ["LEFT", "RIGHT"]).feed(bad), bad


def test_completion_closes_any_prefix():
    for partial in ["ANS", "ANSWER0=Vq", "ANSWER0=Vqa(image=LEFT, question='How ma",
                    "BOX0=Loc(image=IMAGE, object='dog')\nANSWER0=Count(box=BOX0)\nANSWER1=Eval(expr=\"({ANSWER",
                    "OBJ0=Loc(image=IMAGE, object='x')\nLIST0=List(query='a', max=1"]:
        inputs = ["LEFT"] if "LEFT" in partial else ["IMAGE"]
        prefix = ProgramPrefix(registry, inputs)
        configs = prefix.feed(partial)
        assert configs, partial
        prefix.accept(configs)
        text = partial + prefix.completion()
        assert not [d for d in check(text, inputs=inputs) if d.severity == "error"], text


def test_random_llama_writes_valid_programs(tiny_llm):
    chat = HFPlannerChat(path=tiny_llm, max_new_tokens=120, finish_margin=60)
    planner = hf_planner(tiny_llm, max_new_tokens=120, finish_margin=60, retries=0, k=1)
    for instruction, inputs in [("Is there a dog?", ("IMAGE",)),
                                ("The left image shows two cats.", ("LEFT", "RIGHT"))]:
        program = planner.plan(instruction, inputs=inputs)
        assert planner.attempts and planner.attempts[-1].valid
        assert not [d for d in check(program, inputs=inputs) if d.severity == "error"]
        assert parse(str(program)) == program
    assert chat.identity.startswith("hf:")
