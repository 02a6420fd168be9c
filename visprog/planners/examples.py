"""In-context examples for planners: instruction -> visprog program, one list per task.

Written for visprog (canonical module names, the icon world's question forms
that the oracle and the in-repo models understand); a few at the end of each
list use VisProg's own spelling (upper-case aliases such as `LOC`, `VQA`,
`CROP_LEFTOF`, `EVAL`, `RESULT`), which visprog accepts too, so that prompts
written for VisProg-style planners keep working. `tests/test_llm_planner.py`
checks that every example parses and checks against the registry.

Tasks: nlvr (a true/false statement about a LEFT and a RIGHT image), gqa (a
question about one IMAGE), edit (change an IMAGE), tag (label the things an
instruction describes in an IMAGE).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    task: str
    instruction: str
    program: str
    inputs: tuple[str, ...] = ("IMAGE",)


PAIR = ("LEFT", "RIGHT")


def _nlvr(instruction: str, program: str) -> Example:
    return Example("nlvr", instruction, program.strip(), PAIR)


def _one(task: str):
    def make(instruction: str, program: str) -> Example:
        return Example(task, instruction, program.strip())
    return make


_gqa, _edit, _tag = _one("gqa"), _one("edit"), _one("tag")

EXAMPLES: list[Example] = [
    # ---------------------------------------------------------------- nlvr
    _nlvr("Together the two pictures show three dogs and one cat.", """
ANSWER0=Vqa(image=LEFT, question='How many dogs are in the image?')
ANSWER1=Vqa(image=RIGHT, question='How many dogs are in the image?')
ANSWER2=Vqa(image=LEFT, question='How many cats are in the image?')
ANSWER3=Vqa(image=RIGHT, question='How many cats are in the image?')
ANSWER4=Eval(expr='{ANSWER0} + {ANSWER1} == 3 and {ANSWER2} + {ANSWER3} == 1')
FINAL=Result(var=ANSWER4)
"""),
    _nlvr("The left picture has exactly two horses.", """
ANSWER0=Vqa(image=LEFT, question='How many horses are in the image?')
ANSWER1=Eval(expr='{ANSWER0} == 2')
FINAL=Result(var=ANSWER1)
"""),
    _nlvr("There are more bicycles on the right than on the left.", """
ANSWER0=Vqa(image=LEFT, question='How many bicycles are in the image?')
ANSWER1=Vqa(image=RIGHT, question='How many bicycles are in the image?')
ANSWER2=Eval(expr='{ANSWER1} > {ANSWER0}')
FINAL=Result(var=ANSWER2)
"""),
    _nlvr("Just one of the two images contains a bus.", """
ANSWER0=Vqa(image=LEFT, question='Is there a bus?')
ANSWER1=Vqa(image=RIGHT, question='Is there a bus?')
ANSWER2=Eval(expr='{ANSWER0} xor {ANSWER1}')
FINAL=Result(var=ANSWER2)
"""),
    _nlvr("Each image shows at least one apple.", """
ANSWER0=Vqa(image=LEFT, question='How many apples are in the image?')
ANSWER1=Vqa(image=RIGHT, question='How many apples are in the image?')
ANSWER2=Eval(expr='{ANSWER0} >= 1 and {ANSWER1} >= 1')
FINAL=Result(var=ANSWER2)
"""),
    _nlvr("Neither picture contains any farm animals.", """
ANSWER0=Vqa(image=LEFT, question='How many farm animals are in the image?')
ANSWER1=Vqa(image=RIGHT, question='How many farm animals are in the image?')
ANSWER2=Eval(expr='{ANSWER0} == 0 and {ANSWER1} == 0')
FINAL=Result(var=ANSWER2)
"""),
    _nlvr("In the right image a rabbit is to the left of a tree.", """
ANSWER0=Vqa(image=RIGHT, question='Is the rabbit to the left of the tree?')
FINAL=Result(var=ANSWER0)
"""),
    _nlvr("The left image holds more cars than buses.", """
ANSWER0=Vqa(image=LEFT, question='How many cars are in the image?')
ANSWER1=Vqa(image=LEFT, question='How many buses are in the image?')
ANSWER2=Eval(expr='{ANSWER0} > {ANSWER1}')
FINAL=Result(var=ANSWER2)
"""),
    _nlvr("Both photos have fewer than four ducks in total.", """
ANSWER0=VQA(image=LEFT,question='How many ducks are in the image?')
ANSWER1=VQA(image=RIGHT,question='How many ducks are in the image?')
ANSWER2=EVAL(expr='{ANSWER0} + {ANSWER1} < 4')
FINAL_ANSWER=RESULT(var=ANSWER2)
"""),
    # ---------------------------------------------------------------- gqa
    _gqa("How many sheep are below the tree?", """
BOX0=Loc(image=IMAGE, object='tree')
IMAGE0=CropBelow(image=IMAGE, box=BOX0)
BOX1=Loc(image=IMAGE0, object='sheep')
ANSWER0=Count(box=BOX1)
FINAL=Result(var=ANSWER0)
"""),
    _gqa("Can you see a pizza in this photo?", """
BOX0=Loc(image=IMAGE, object='pizza')
ANSWER0=Count(box=BOX0)
ANSWER1=Eval(expr="'yes' if {ANSWER0} > 0 else 'no'")
FINAL=Result(var=ANSWER1)
"""),
    _gqa("What colour is the scooter?", """
BOX0=Loc(image=IMAGE, object='scooter')
IMAGE0=Crop(image=IMAGE, box=BOX0)
ANSWER0=Vqa(image=IMAGE0, question='What color is the scooter?')
FINAL=Result(var=ANSWER0)
"""),
    _gqa("Are there fewer cows than pigs?", """
BOX0=Loc(image=IMAGE, object='cow')
ANSWER0=Count(box=BOX0)
BOX1=Loc(image=IMAGE, object='pig')
ANSWER1=Count(box=BOX1)
ANSWER2=Eval(expr="'yes' if {ANSWER0} < {ANSWER1} else 'no'")
FINAL=Result(var=ANSWER2)
"""),
    _gqa("Is the elephant large or small?", """
BOX0=Loc(image=IMAGE, object='elephant')
IMAGE0=Crop(image=IMAGE, box=BOX0)
ANSWER0=Vqa(image=IMAGE0, question='Is the elephant small or large?')
FINAL=Result(var=ANSWER0)
"""),
    _gqa("Which animal is to the right of the boat?", """
ANSWER0=Vqa(image=IMAGE, question='What animal is to the right of the boat?')
FINAL=Result(var=ANSWER0)
"""),
    _gqa("Is the cake above or below the cat?", """
ANSWER0=Vqa(image=IMAGE, question='Is the cake above or below the cat?')
FINAL=Result(var=ANSWER0)
"""),
    _gqa("Is there a train on the right side of the picture?", """
BOX0=Loc(image=IMAGE, object='RIGHT')
IMAGE0=Crop(image=IMAGE, box=BOX0)
BOX1=Loc(image=IMAGE0, object='train')
ANSWER0=Count(box=BOX1)
ANSWER1=Eval(expr="'yes' if {ANSWER0} > 0 else 'no'")
FINAL=Result(var=ANSWER1)
"""),
    _gqa("How many birds are to the left of the giraffe?", """
BOX0=LOC(image=IMAGE,object='giraffe')
IMAGE0=CROP_LEFTOF(image=IMAGE,box=BOX0)
BOX1=LOC(image=IMAGE0,object='bird')
ANSWER0=COUNT(box=BOX1)
FINAL_RESULT=RESULT(var=ANSWER0)
"""),
    # ---------------------------------------------------------------- edit
    _edit("Swap the car for a tractor.", """
OBJ0=Seg(image=IMAGE)
OBJ1=Select(image=IMAGE, object=OBJ0, query='car', category=None)
IMAGE0=Replace(image=IMAGE, object=OBJ1, prompt='a tractor')
FINAL=Result(var=IMAGE0)
"""),
    _edit("Make the image grey except for the bananas.", """
OBJ0=Seg(image=IMAGE)
OBJ1=Select(image=IMAGE, object=OBJ0, query='banana', category=None)
IMAGE0=ColorPop(image=IMAGE, object=OBJ1)
FINAL=Result(var=IMAGE0)
"""),
    _edit("Keep the horse in focus and blur the rest.", """
OBJ0=Seg(image=IMAGE)
OBJ1=Select(image=IMAGE, object=OBJ0, query='horse', category=None)
IMAGE0=BgBlur(image=IMAGE, object=OBJ1)
FINAL=Result(var=IMAGE0)
"""),
    _edit("Cover every face with a grinning face emoji.", """
OBJ0=FaceDet(image=IMAGE)
IMAGE0=Emoji(image=IMAGE, object=OBJ0, emoji='grinning_face')
FINAL=Result(var=IMAGE0)
"""),
    _edit("Put a star-struck emoji over the face of the princess.", """
OBJ0=FaceDet(image=IMAGE)
OBJ1=Select(image=IMAGE, object=OBJ0, query='princess', category=None)
IMAGE0=Emoji(image=IMAGE, object=OBJ1, emoji='star-struck')
FINAL=Result(var=IMAGE0)
"""),
    _edit("Change the cats into rabbits.", """
OBJ0=SEG(image=IMAGE)
OBJ1=SELECT(image=IMAGE,object=OBJ0,query='cat',category=None)
IMAGE0=REPLACE(image=IMAGE,object=OBJ1,prompt='a rabbit')
FINAL_RESULT=RESULT(var=IMAGE0)
"""),
    # ---------------------------------------------------------------- tag
    _tag("Tag the emergency workers.", """
OBJ0=FaceDet(image=IMAGE)
LIST0=List(query='emergency workers', max=20)
OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)
IMAGE0=Tag(image=IMAGE, object=OBJ1)
FINAL=Result(var=IMAGE0)
"""),
    _tag("Label each fruit with its name.", """
OBJ0=Loc(image=IMAGE, object='fruit')
LIST0=List(query='fruits', max=20)
OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)
IMAGE0=Tag(image=IMAGE, object=OBJ1)
FINAL=Result(var=IMAGE0)
"""),
    _tag("Find the wild animals and name them.", """
OBJ0=Loc(image=IMAGE, object='animal')
LIST0=List(query='wild animals', max=20)
OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)
IMAGE0=Tag(image=IMAGE, object=OBJ1)
FINAL=Result(var=IMAGE0)
"""),
    _tag("Mark the royalty in this picture.", """
OBJ0=FaceDet(image=IMAGE)
LIST0=List(query='royalty', max=20)
OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)
IMAGE0=Tag(image=IMAGE, object=OBJ1)
FINAL=Result(var=IMAGE0)
"""),
    _tag("Tag the vehicles with their names.", """
OBJ0=Loc(image=IMAGE, object='vehicle')
LIST0=List(query='vehicles', max=20)
OBJ1=Classify(image=IMAGE, object=OBJ0, categories=LIST0)
IMAGE0=Tag(image=IMAGE, object=OBJ1)
FINAL=Result(var=IMAGE0)
"""),
    _tag("Tag the magical beings.", """
OBJ0=FACEDET(image=IMAGE)
LIST0=LIST(query='magical beings',max=20)
OBJ1=CLASSIFY(image=IMAGE,object=OBJ0,categories=LIST0)
IMAGE0=TAG(image=IMAGE,object=OBJ1)
FINAL_RESULT=RESULT(var=IMAGE0)
"""),
]

TASKS = ("nlvr", "gqa", "edit", "tag")
INPUTS = {"nlvr": PAIR, "gqa": ("IMAGE",), "edit": ("IMAGE",), "tag": ("IMAGE",)}


def for_task(task: str) -> list[Example]:
    return [e for e in EXAMPLES if e.task == task]
