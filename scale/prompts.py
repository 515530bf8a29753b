"""Prompts, written in our own words after the paper's description (PAPER.md)."""

SOLVE_SYSTEM = (
    "You are a careful mathematician. Reason step by step, and put your final answer "
    "within \\boxed{}."
)

COT_USER = "{question}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}."

DECOMPOSE_SYSTEM = (
    "You are an experienced mathematics teacher. You plan solutions; you do not carry them out."
)

DECOMPOSE_USER = """Break the following problem into the sequence of sub-goals a student must reach, in order, to solve it.

Rules:
- Say what each step must achieve, not how to compute it.
- Do not do any numeric computation.
- When a step introduces a new quantity, give it a name.
- The last step should produce the quantity the problem asks for.

Answer with a JSON object only, of the form {{"step1": "...", "step2": "...", ...}}.

Problem:
{question}"""

SELECT_USER = """Here is a problem and {n} candidate solution outlines.

Problem:
{question}

{outlines}

Judge the outlines on logical correctness, clarity, completeness, relevance to the question, and simplicity. Answer with the label of the best outline only, for example "Outline 1"."""

SCORE_USER = """Problem:
{question}

Earlier steps of the plan:
{previous}

Current step:
{step}

Rate how hard the current step is, as a number between 0 and 1.
0 to 0.5: a quick routine operation a middle-school student could do.
0.5 to 1: needs extensive, deliberate thought even at high-school or college level.
Answer with the number only."""

STEP_USER = """Given conditions:
{condition}

Process so far:
{process}

Current question:
{step}

Solve the current question. Put its answer within \\boxed{{}}."""

INFTY_FIRST = """{question}

Reason step by step. If you reach the final answer, put it within \\boxed{{}}. If you have not finished, end with a section that starts with "Summary:" and states everything established so far."""

INFTY_NEXT = """{question}

Here is a summary of the reasoning so far:
{summary}

Continue from the summary. Reason step by step. If you reach the final answer, put it within \\boxed{{}}. If you have not finished, end with a section that starts with "Summary:" and states everything established so far."""

SPLIT_USER = """Copy the final question of this problem word for word: the sentence that asks for the quantity to find. Answer with that sentence only.

Problem:
{question}"""
