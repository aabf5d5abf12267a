"""The built-in open-ended chat set for the `judge` task: everyday requests with a reference answer each.

Written for lamdagent, in the shape of an MT-Bench question file (`question_id`, `category`, `turns`,
`reference`): some requests have a second turn that builds on the first. The references say what a good
answer contains; the judge compares against them, it does not require their wording. The set is small on
purpose: a judged item costs several judge calls.
"""

from __future__ import annotations

from typing import Any

CHAT_QUESTIONS: list[dict[str, Any]] = [
    {
        "question_id": 1,
        "category": "advice",
        "turns": ["I keep forgetting to drink water during the workday. Give me three practical ways to fix that."],
        "reference": [
            "Three concrete habits, e.g. a bottle kept in sight and refilled at set times, linking a glass to an "
            "existing routine (each meeting or break), and a phone or calendar reminder; brief and actionable."
        ],
    },
    {
        "question_id": 2,
        "category": "explanation",
        "turns": ["Explain in two or three sentences why the sky looks blue on a clear day."],
        "reference": [
            "Sunlight is scattered by the molecules of the air, and short (blue) wavelengths scatter much more than "
            "long (red) ones (Rayleigh scattering), so blue light reaches the eye from every direction of the sky."
        ],
    },
    {
        "question_id": 3,
        "category": "writing",
        "turns": [
            "Write a short, polite email to a colleague asking them to review my pull request by Friday.",
            "Now make it more informal, as a chat message of at most two sentences.",
        ],
        "reference": [
            "A greeting, the request (review the pull request, with a way to find it), the Friday deadline, thanks, "
            "a sign-off; polite and short.",
            "One or two casual sentences with the same request and deadline, e.g. 'Hey, could you look at my PR "
            "before Friday? Thanks!'",
        ],
    },
    {
        "question_id": 4,
        "category": "reasoning",
        "turns": [
            "A shop sells pens at 3 for 2 euros. How much do 12 pens cost? Explain your reasoning briefly.",
            "And how many pens can I buy with 9 euros?",
        ],
        "reference": [
            "12 pens are 4 groups of 3, so 4 × 2 = 8 euros.",
            "9 euros buy 4 full groups (8 euros) = 12 pens, with 1 euro left over (not enough for another group "
            "of 3 at that price).",
        ],
    },
    {
        "question_id": 5,
        "category": "explanation",
        "turns": ["What is the difference between a virus and a bacterium? Keep it simple."],
        "reference": [
            "Bacteria are single living cells that can reproduce on their own and can often be treated with "
            "antibiotics; viruses are much smaller, not cells, and can only multiply inside a host's cells; "
            "antibiotics do not work on them."
        ],
    },
    {
        "question_id": 6,
        "category": "coding",
        "turns": ["In Python, how do I read a text file line by line? Show a short example."],
        "reference": [
            "Open the file in a with-block and iterate over the file object, e.g. `with open('f.txt') as f:` then "
            "`for line in f: print(line.rstrip())`; the file is closed automatically."
        ],
    },
    {
        "question_id": 7,
        "category": "advice",
        "turns": [
            "I have a job interview tomorrow for a junior data analyst role. What should I prepare tonight?",
            "I only have one hour left. Which single thing matters most?",
        ],
        "reference": [
            "Review the company and role, prepare short stories of past work (e.g. STAR format), refresh core "
            "skills (SQL, spreadsheets, basic statistics), prepare questions for the interviewer, plan logistics "
            "and rest.",
            "One clear priority with a reason, e.g. rehearsing two or three concrete examples of past analysis "
            "work, since they answer most questions; plus sleep.",
        ],
    },
    {
        "question_id": 8,
        "category": "writing",
        "turns": ["Give me a catchy one-line slogan for a neighbourhood bicycle repair café."],
        "reference": [
            "One short, memorable line about fixing bikes together or community repair, e.g. 'Bring it broken, "
            "ride it home'; not a list, not a paragraph."
        ],
    },
    {
        "question_id": 9,
        "category": "reasoning",
        "turns": [
            "If all bloops are razzies and all razzies are lazzies, are all bloops definitely lazzies? Answer and "
            "explain."
        ],
        "reference": [
            "Yes: every bloop is a razzie and every razzie is a lazzie, so every bloop is a lazzie (transitivity)."
        ],
    },
    {
        "question_id": 10,
        "category": "explanation",
        "turns": [
            "Explain what compound interest is to a twelve-year-old.",
            "Give a small example with numbers.",
        ],
        "reference": [
            "You earn interest not only on the money you put in but also on the interest already earned, so the "
            "amount grows faster and faster over time; simple words, maybe a snowball image.",
            "A worked example, e.g. 100 at 10% a year: 110 after one year, 121 after two (interest on 110), "
            "133.10 after three; the arithmetic must be right.",
        ],
    },
    {
        "question_id": 11,
        "category": "advice",
        "turns": ["How can I politely decline a meeting that I think is not useful for me?"],
        "reference": [
            "Thank the organiser, decline briefly with a reason (priorities, not needed), offer an alternative "
            "(read the notes, send input by email, a delegate), keep it friendly; maybe an example message."
        ],
    },
    {
        "question_id": 12,
        "category": "coding",
        "turns": [
            "What does this Python expression return: `[x * x for x in range(5) if x % 2 == 0]`?",
            "Rewrite it with a plain for loop.",
        ],
        "reference": [
            "[0, 4, 16]: the squares of the even numbers 0, 2 and 4.",
            "result = []; for x in range(5): if x % 2 == 0: result.append(x * x); correct indentation, same result.",
        ],
    },
    {
        "question_id": 13,
        "category": "writing",
        "turns": ["Summarise the plot of Little Red Riding Hood in exactly three sentences."],
        "reference": [
            "Three sentences: a girl takes food to her grandmother; a wolf learns where she goes, gets there first "
            "and disguises himself; the girl is fooled until a hunter (in common versions) saves them."
        ],
    },
    {
        "question_id": 14,
        "category": "explanation",
        "turns": ["Why do we have leap years?"],
        "reference": [
            "The Earth's orbit takes about 365.24 days, so an extra day every four years keeps the calendar in step "
            "with the seasons; century years are leap years only when divisible by 400."
        ],
    },
    {
        "question_id": 15,
        "category": "reasoning",
        "turns": [
            "I have two meetings: one from 9:30 to 10:15 and one from 10:00 to 11:00. Do they overlap, and by how much?"
        ],
        "reference": ["Yes, they overlap from 10:00 to 10:15, that is 15 minutes."],
    },
    {
        "question_id": 16,
        "category": "advice",
        "turns": [
            "Suggest a simple weekly plan to start running if I have never run before.",
            "I get bored easily. How can I keep it interesting?",
        ],
        "reference": [
            "Three sessions a week of walk/run intervals (e.g. 1 minute running, 2 walking, about 20-30 minutes), "
            "rest days between, a gradual increase, advice on pace and listening to the body.",
            "Varied ideas: new routes, music or podcasts, a running partner or club, small goals or a 5 km event, "
            "tracking progress, mixing in games like intervals.",
        ],
    },
    {
        "question_id": 17,
        "category": "coding",
        "turns": ["What is the difference between a list and a tuple in Python?"],
        "reference": [
            "Lists are mutable (items can be changed, added, removed) and written with []; tuples are immutable and "
            "written with (); tuples can be dictionary keys and suit fixed records."
        ],
    },
    {
        "question_id": 18,
        "category": "writing",
        "turns": [
            "Write a two-sentence product description for a reusable glass water bottle.",
            "Now write it for a social media post, with one hashtag.",
        ],
        "reference": [
            "Two sentences naming the material and benefits (reusable, no plastic taste, easy to clean, durable).",
            "A short, lively post with the same product and exactly one hashtag.",
        ],
    },
    {
        "question_id": 19,
        "category": "explanation",
        "turns": ["What does a CPU do in a computer, in plain words?"],
        "reference": [
            "It is the part that carries out the instructions of programs: calculations, comparisons and moving "
            "data, step by step and very fast; the computer's 'brain' that follows the recipe."
        ],
    },
    {
        "question_id": 20,
        "category": "reasoning",
        "turns": ["Which is heavier: a kilogram of feathers or a kilogram of iron? Explain."],
        "reference": ["Neither: both weigh one kilogram; the iron is just much denser, so it takes less space."],
    },
]
