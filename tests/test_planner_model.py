"""The in-repo planner model: grammar-constrained decoding, training steps, the chat-model wrapper."""

import random

import pytest
import torch

from visprog import check, parse
from visprog.models import planner as P
from visprog.models import planner_data as PD
from visprog.models import planner_train as PT
from visprog.models import available
from visprog.planners import grammar as G
from visprog.planners.examples import EXAMPLES
from visprog.tools import registry

torch.set_num_threads(1)  # fastest on a shared machine

PAIRS = [
    ("The left and right image contain a total of six people.", ("LEFT", "RIGHT"),
     "ANSWER0=Vqa(image=LEFT, question='How many people are in the image?')\n"
     "ANSWER1=Vqa(image=RIGHT, question='How many people are in the image?')\n"
     "ANSWER2=Eval(expr='{ANSWER0} + {ANSWER1} == 6')\nFINAL=Result(var=ANSWER2)"),
    ("Is there a dog in the image?", ("IMAGE",),
     "BOX0=Loc(image=IMAGE, object='dog')\nANSWER0=Count(box=BOX0)\n"
     "ANSWER1=Eval(expr=\"'yes' if {ANSWER0} > 0 else 'no'\")\nFINAL=Result(var=ANSWER1)"),
    ("Tag the farm animals.", ("IMAGE",),
     "OBJ0=Loc(image=IMAGE, object='animal')\nLIST0=List(query='farm animals', max=20)\n"
     "OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)\n"
     "IMAGE0=Tag(image=IMAGE, object=OBJ1)\nFINAL=Result(var=IMAGE0)"),
]

TINY = P.PlannerConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, max_len=64,
                       steps=8, batch=3, lr=3e-3, warmup=2)


def _errors(text, inputs):
    return [d for d in check(text, inputs=inputs) if d.severity == "error"]


def test_examples_round_trip_through_program_tokens():
    for example in EXAMPLES:
        tokens = G.program_tokens(example.program, registry)
        spec = G.Spec(G.base_vocab(registry) + sorted(set(tokens)), registry)
        state = G.replay(tokens, spec, example.inputs)
        assert parse(state.text()) == _canonical(parse(example.program)), example.instruction


def _canonical(program):
    text = "\n".join(f"{s.output}={registry.lookup(s.module).name}({', '.join(map(str, s.args))})"
                     for s in program.steps)
    return parse(text)


def test_random_walks_through_the_grammar_always_check():
    rng = random.Random(0)
    vocab = G.base_vocab(registry) + ["out:" + n for n in ("ANSWER0", "ANSWER1", "BOX0", "OBJ0",
                                                          "IMAGE0", "LIST0", "FINAL")]
    vocab += ["var:" + n for n in ("ANSWER0", "ANSWER1", "BOX0", "OBJ0", "IMAGE0", "LIST0")]
    vocab += ["ref:" + n for n in ("ANSWER0", "ANSWER1", "BOX0", "OBJ0", "LIST0")]
    vocab += ["w:dog", "w:How many", "w:?", "num:2.5"]
    spec = G.Spec(vocab, registry)
    for walk in range(300):
        inputs = rng.choice([("IMAGE",), ("LEFT", "RIGHT")])
        state = G.DecodeState(spec, inputs)
        budget = rng.randrange(20, 120)
        while not state.done:
            allowed, copy = state.allowed(finishing=state.count >= budget)
            options = list(allowed)
            if copy == "word":
                options.append("w:copied")
            if copy == "num":
                options.append("num:7")
            state.advance(rng.choice(options))
            assert state.count < budget + 200
        assert not _errors(state.text(), inputs), state.text()


@pytest.fixture(scope="module")
def tiny_model():
    return PT.train(TINY, [p for p in PAIRS], registry, out=None, log=lambda *_: None)


def test_training_steps_reduce_the_loss(tiny_model):
    tokens = [(t, G.program_tokens(p, registry)) for t, _, p in PAIRS]
    sources = P.encode_sources([t for t, _ in tokens])
    examples = [PD.make_example(s, k, tiny_model.index) for s, (_, k) in zip(sources, tokens)]
    examples = [e for e in examples if e is not None]
    assert len(examples) >= 2
    batch = PD.collate(examples, len(tiny_model.vocab))
    states, mask, word_start, inp, cps, gold, valid, task = batch
    fresh = P.PlannerModel(tiny_model.vocab, TINY).eval()

    def loss(model):
        with torch.no_grad():
            return float(PT.loss_fn(model(model.memory(states, mask, task), mask, word_start, inp, cps),
                                   gold, valid))
    tiny_model.eval()
    before = loss(fresh)
    opt = torch.optim.AdamW(fresh.parameters(), lr=3e-3)
    fresh.train()
    for _ in range(15):
        scores = fresh(fresh.memory(states, mask, task), mask, word_start, inp, cps)
        value = PT.loss_fn(scores, gold, valid)
        opt.zero_grad()
        value.backward()
        opt.step()
    fresh.eval()
    assert loss(fresh) < before


def test_untrained_model_decodes_valid_programs(tiny_model, tmp_path):
    untrained = P.PlannerModel(tiny_model.vocab, TINY).eval()
    g = torch.Generator().manual_seed(0)
    instructions = ["Are there more cats than dogs?", "Tag the vehicles.",
                    "The left image has 3 buses.", "Swap the horse for a zebra."]
    inputs = [("IMAGE",), ("IMAGE",), ("LEFT", "RIGHT"), ("IMAGE",)]
    for temperature in (0.0, 1.0):
        programs = untrained.plan(instructions, inputs, temperature=temperature, generator=g)
        for text, names in zip(programs, inputs):
            assert text and not _errors(text, names), text
    path = tmp_path / "tiny.safetensors"
    untrained.save(path, {"seed": 0})
    again = P.PlannerModel.load(path)
    assert again.vocab == untrained.vocab and again.meta == {"seed": 0}


def test_cached_decoding_steps_match_the_full_forward():
    """`plan` decodes with cached keys and values; each step's scores must be the full
    forward's scores at the last position (copied words and padded sources included)."""
    torch.manual_seed(0)
    model = P.PlannerModel([G.BOS, G.UNK_WORD] + [f"t{i}" for i in range(20)], TINY).eval()
    sources = P.encode_sources(["Are there two dogs?", "Tag the farm animals in the left image."])
    states, mask, word_start = P._pad_sources(sources)
    memory = model.memory(states, mask)
    steps = P._Steps(model, memory, mask, word_start)
    ids, cps = torch.tensor([[0, 0]]).T, torch.tensor([[-1, -1]]).T
    with torch.no_grad():
        for t in range(6):
            cached = steps.next(ids[:, -1], cps[:, -1])
            full = model(memory, mask, word_start, ids, cps)[:, -1]
            assert torch.allclose(cached, full, atol=1e-4), t
            ids = torch.cat([ids, torch.randint(1, 22, (2, 1))], 1)
            cps = torch.cat([cps, torch.tensor([[2 if t % 2 else -1], [-1]])], 1)


def test_copying_puts_unseen_words_in_the_program(tiny_model):
    program = tiny_model.plan(["Is there a zebra in the image?"], [("IMAGE",)])[0]
    assert not _errors(program, ("IMAGE",))
    assert "zebra" not in tiny_model.vocab and "w:zebra" not in tiny_model.vocab


@pytest.mark.skipif(not available("planner"), reason="planner weights not trained yet")
def test_packaged_planner_through_llm_planner():
    from visprog.planners.local import LocalPlanner, local_planner
    planner = local_planner(cache=False)
    program = planner.plan("The left and right image contain a total of six people and two boats.",
                           inputs=("LEFT", "RIGHT"))
    text = str(program)
    assert not _errors(text, ("LEFT", "RIGHT"))
    assert "people" in text and "boats" in text and "6" in text and "2" in text
    reply = LocalPlanner().chat([("human", "Instruction: Tag the farm animals.\nImages: IMAGE\nProgram:")])
    assert "Tag(" in reply and "farm animals" in reply


def test_local_planner_reads_the_request():
    from visprog.planners.local import parse_request
    prompt = ("Examples:\n\nInstruction: Tag the dogs.\nTask: tag\nImages: IMAGE\nProgram:\nX=Y()\n\n"
              "Instruction: The left image has two cats.\nTask: nlvr\nImages: LEFT, RIGHT\nProgram:")
    assert parse_request(prompt) == ("The left image has two cats.", ("LEFT", "RIGHT"), "nlvr")
    assert parse_request("Instruction: Is it red?\nImages: IMAGE\nProgram:") == (
        "Is it red?", ("IMAGE",), None)
    assert parse_request("Is there a dog?") == ("Is there a dog?", (), None)


def test_task_modules_narrow_the_module_choice():
    spec = G.Spec(G.base_vocab(registry) + ["out:ANSWER0"], registry)
    state = G.DecodeState(spec, ("LEFT", "RIGHT"), modules={"Vqa", "Eval", "Result"})
    state.advance("out:ANSWER0")
    allowed, _ = state.allowed()
    assert sorted(allowed) == ["mod:Eval", "mod:Result", "mod:Vqa"]
