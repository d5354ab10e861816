#!/usr/bin/env python3
"""Write local/sentences_en.txt and local/sentences_test_en.txt for the kokoro_en recipe.

These are the English texts of the natural-voice corpus: sentences_en.txt is the training
text (hand-written everyday sentences plus sentences composed from a small grammar) and
sentences_test_en.txt holds 120 held-out evaluation sentences that never occur in the
training file. The grammar has many sentence patterns (statements, questions, imperatives,
conditionals, relative clauses, lists, time clauses, comparisons, reported speech) over
large hand-made word lists, so that the corpus covers English phonetics broadly.

All text here (hand-written sentences, word lists and patterns) was written for this
project and is released under the Apache-2.0 license, like the rest of the repository.
The script uses the standard library only and fixed seeds, so its output is reproducible;
the committed text files are what the recipe reads, this script documents how they were made.
"""

import random
import re
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED_TRAIN, SEED_TEST = 20240611, 977
N_TRAIN, N_TEST = 3300, 120

HAND_TRAIN = """
Could you pass me the salt, please?
The morning fog lifted just as the ferry left the harbor.
I can't believe how quickly this summer went by!
Preheat the oven before you mix the flour and butter.
She whispered the answer so nobody else could hear it.
Why do the geese fly south every autumn?
The thunderstorm knocked out power across the entire valley.
We shared a bowl of spicy noodles at the night market.
His hands trembled as he opened the envelope.
Honestly, I think we should take the scenic route.
The volcano has been quiet for nearly a century.
Turn off the lights when you leave the office.
Our flight was delayed because of heavy snow in Chicago.
She felt a rush of relief when the phone finally rang.
Light travels much faster than sound through the air.
Are you sure this bridge can hold the weight of the truck?
The meeting ran long, so I missed my usual bus.
Wow, this chocolate cake is absolutely delicious!
Grandmother kept her recipes in a battered tin box.
A gentle breeze carried the scent of lilacs through the window.
Please sign your name at the bottom of the form.
The astronauts floated weightlessly inside the cramped capsule.
I'm not angry, just a little disappointed.
Where exactly did you park the car this morning?
The rain drummed steadily on the tin roof all night.
Squeeze a lemon over the fish just before serving.
He spent the afternoon repairing the squeaky garden gate.
What time does the pharmacy close on Saturdays?
The glacier has retreated dramatically over the past few decades.
Let's meet by the fountain after lunch.
Honey never spoils if it is stored properly.
My brother always hums when he is concentrating.
The hikers reached the summit just before sunset.
Don't worry, we still have plenty of time.
The spreadsheet crashed right before I could save my changes.
A flock of starlings swirled above the frozen marsh.
How did you learn to juggle so well?
The bakery on the corner sells warm pretzels every morning.
Tiny droplets of dew sparkled on the spider's web.
I've never seen the ocean look so calm.
Whales communicate with songs that travel for miles underwater.
Remember to bring your passport and a spare charger.
The kettle whistled loudly, startling the sleeping dog.
She negotiated a better contract after weeks of patient discussion.
It's freezing out here, let's go back inside!
The children giggled at the clown's enormous shoes.
Mix the yogurt with cucumber, garlic, and fresh mint.
Who left the muddy boots on the kitchen table?
Lightning flickered silently on the distant horizon.
Our neighbor's rooster crows long before dawn.
He apologized sincerely for forgetting her birthday.
The train rattled through tunnels carved deep into the mountain.
Which flavor would you like, vanilla or strawberry?
The laboratory smelled faintly of vinegar and burnt sugar.
Keep stirring the sauce until it thickens.
I felt nervous before the interview, but it went well.
The old lighthouse keeper waved at every passing ship.
Isn't it strange how quiet the streets are today?
Bees navigate using the position of the sun.
The manager asked everyone to submit their reports by Friday.
A thick blanket of snow muffled every sound in the village.
Could you help me carry these boxes upstairs?
The soup tasted better on the second day.
She jogged along the riverbank while the city woke up.
That was the funniest movie I've seen in years!
The plumber fixed the leaking pipe in under an hour.
Autumn leaves crunched beneath our boots as we walked.
Please don't feed the ducks any more bread.
Why is the sky blue during the day but red at sunset?
The waiter brought us warm rolls and a jug of water.
We missed the last train and had to walk home.
He felt proud when his daughter played the violin on stage.
The desert gets surprisingly cold after the sun goes down.
Write down your questions, and we'll answer them after the break.
Somebody has been eating the cookies I hid in the cupboard.
Magnets attract iron but ignore aluminum and copper.
What a relief to finally be home!
The tram was packed with commuters and their umbrellas.
She carefully folded the map and slipped it into her pocket.
The printer jammed again, so I'll send the file by email.
Drizzle turned into a downpour by the middle of the afternoon.
Should we order pizza or cook something ourselves?
The puppy chewed through the strap of my favorite sandal.
My uncle grows enormous pumpkins in his backyard.
Stand up straight and speak clearly into the microphone.
Nobody expected the quiet student to win the debate.
The museum's newest exhibit features fossils of ancient sharks.
Are we there yet, or is it still far?
Warm sunlight streamed through the dusty attic window.
I'll call you back as soon as the meeting ends.
The chef sprinkled chopped parsley over the roasted potatoes.
Plants release oxygen as they turn sunlight into energy.
She was thrilled to receive a letter from her pen pal.
Hurry up, the concert starts in fifteen minutes!
A stray cat curled up on the warm hood of the car.
The committee postponed the vote until next month.
How much does a ticket to the island cost?
The wind howled through the cracks in the old barn.
Slice the bread thinly and toast it until golden.
Everyone cheered when the pilot announced an early arrival.
My sister can't stand the sound of chewing.
The river flooded its banks after a week of heavy rain.
Do you think the shop will still be open?
Earthquakes are measured with instruments called seismographs.
He left a sticky note on the fridge to remind himself.
The mountain air felt crisp and thin at dawn.
Thank you so much for inviting us to dinner!
The intern organized the files by date and client name.
I wish I had brought a thicker sweater.
Fireflies blinked among the tall grass near the pond.
Be careful, the pan is still very hot.
The fisherman mended his nets while the gulls circled overhead.
Is there a pharmacy anywhere near the hotel?
The strawberries were sweet, juicy, and perfectly ripe.
She stared at the puzzle for an hour before she solved it.
Our guide pointed out a pair of eagles nesting on the cliff.
Atoms are mostly empty space, which still surprises me.
Don't forget to water the ferns while I'm away.
A sudden gust of wind snatched the hat from his head.
The deadline moved, so we finally have time to breathe.
Why did the orchestra stop playing halfway through the song?
The cottage smelled of pine smoke and fresh coffee.
I'm so sorry, I completely forgot about our appointment.
Frost painted delicate patterns across the windshield overnight.
The toddler clapped excitedly when the bubbles floated away.
Can you explain how a rainbow forms?
The spicy curry made my eyes water.
After the long hike, we soaked our feet in the cool stream.
Her presentation impressed even the most skeptical investors.
The streetlights flickered on one by one as night fell.
Put the leftovers in the fridge before they spoil.
He knew the answer but was too shy to raise his hand.
Humid air clung to our skin like a damp towel.
Wait, did you hear that strange noise upstairs?
The baby elephant splashed happily in the muddy river.
My favorite part of traveling is trying the local food.
Please remain seated until the plane has come to a complete stop.
The old clock in the hallway chimes every hour.
Good luck, you've prepared for this for months!
She sketched the cathedral while sitting on the cobblestones.
The chemist carefully poured the blue liquid into a flask.
What are you planning to do this weekend?
The crowd fell silent as the tightrope walker took her first step.
Gloomy clouds gathered over the harbor by late afternoon.
We ate warm chestnuts while watching the skaters on the pond.
I honestly have no idea where the time went.
The satellite circles the earth roughly every ninety minutes.
Thanks for waiting, the doctor will see you now.
He paced the hallway, rehearsing his speech under his breath.
A rainbow appeared briefly over the wet rooftops.
Sorry, could you repeat that a little more slowly?
The bus driver greeted every passenger by name.
Grapes grow best on sunny slopes with good drainage.
Let me know if you need anything else.
The quarterly report showed steady growth in every region.
Just breathe, everything is going to be fine.
"""

HAND_TEST = """
The bridge sways slightly whenever a heavy truck crosses it.
Would you mind closing the curtains before the movie starts?
What a gorgeous sunset over the bay tonight!
My cousin knitted a scarf with stripes of every color.
Owls can turn their heads almost all the way around.
Rinse the rice twice before you put it in the pot.
The receptionist smiled and handed me a heavy brass key.
It snowed so much that school was cancelled for three days.
Why does bread go stale faster in the fridge?
The violinist bowed deeply as the audience rose to its feet.
I think I left my glasses on the train.
Sharks have been swimming in the oceans for millions of years.
Keep your elbows off the table, please.
She laughed so hard that she nearly spilled her tea.
The narrow alley led to a hidden courtyard full of flowers.
Have you finished reading the book I lent you?
The engineer tested the valve before the pressure rose.
Hot chocolate tastes even better with a pinch of cinnamon.
We watched the storm roll in from the safety of the porch.
Don't touch the wet paint on the railing.
The goalkeeper dove to the left and caught the ball.
How long have you been learning to play the cello?
A faint smell of smoke drifted from the chimney next door.
He was furious when he found a scratch on his new car.
Our team presented the final design to the board this morning.
The moon looks enormous when it rises above the hills.
Could you recommend a quiet restaurant near the station?
The squirrel buried acorns all over the lawn.
I'm thrilled that you decided to join us after all.
Gently fold the egg whites into the batter.
The ferry crossed the strait despite the choppy water.
Volcanic ash can travel thousands of miles in the upper atmosphere.
Nobody answered the door, so we left the parcel with a neighbor.
Look at those clouds, it's going to pour any minute!
The carpenter sanded the oak shelf until it felt like silk.
Which platform does the northbound train leave from?
She felt lonely during her first week in the new city.
The tomatoes in the greenhouse ripened early this year.
Mercury is the smallest planet in our solar system.
Please keep the receipt in case you need to return it.
The old man fed the pigeons crumbs from his sandwich.
Is it true that you once met a famous astronaut?
A chilly draft crept under the front door.
We'll need more chairs if everyone shows up.
The typewriter clattered late into the night.
Surprisingly, the shortcut through the forest took twice as long.
Fold the towels and stack them neatly on the shelf.
My stomach growled loudly during the silent exam.
The jazz band played until the last guest went home.
Quick, grab an umbrella before the rain starts!
"""


def L(text):
    """Comma-separated list (items may contain spaces)."""
    return [t.strip() for t in text.split(",") if t.strip()]


# ----------------------------------------------------------------------------- nouns
THINGS = L("""lantern, umbrella, suitcase, notebook, telescope, violin, teapot, bicycle, blanket,
compass, camera, kettle, ladder, mirror, backpack, guitar, necklace, wallet, bucket, hammer,
candle, envelope, microscope, skateboard, typewriter, trumpet, wheelbarrow, paintbrush, raincoat,
stapler, thermos, pillow, sculpture, vase, basket, ribbon, jacket, scarf, helmet, kite, drum,
shovel, padlock, parcel, sweater, postcard, saucepan, carpet, chessboard, flashlight, screwdriver,
bracelet, harmonica, magnifying glass, quilt, stool, cushion, globe, calendar, keyboard,
tablecloth, toolbox, briefcase, accordion, saxophone, easel, fountain pen, photograph, trophy,
wristwatch, sketchbook, tent, sleeping bag, anchor, lamp, birdcage, jigsaw puzzle, hourglass,
thermometer, wreath, banjo, xylophone, cello, spatula, colander, ornament, tambourine, crossbow,
pocketknife, sundial, rocking chair, music box, fishing rod, weathervane, snow globe""")
FOODS = [tuple(x.rsplit(" ", 1)) for x in L("""soup s, bread s, cherries p, honey s, mushrooms p,
lentils p, pineapple c, cucumbers p, omelette c, pancakes p, dumplings p, lasagna s, risotto s,
avocados p, cheese s, salmon s, porridge s, noodles p, tangerines p, spinach s, cauliflower s,
blueberries p, biscuits p, casserole c, carrots p, broccoli s, walnuts p, pretzels p, lemonade s,
stew s, curry s, tortillas p, almonds p, peaches p, asparagus s, coconut c, apricots p, ginger s,
sardines p, waffles p, pie c, muffins p, crackers p, eggplant c, raspberries p, pudding s,
gooseberries p, pumpkin c, cinnamon rolls p, goulash s, quiche c, chutney s, pistachios p""")]
PEOPLE = L("""neighbor, pilot, librarian, nurse, fisherman, carpenter, teacher, firefighter,
architect, gardener, plumber, journalist, violinist, mechanic, baker, farmer, lawyer, dentist,
photographer, sailor, scientist, waitress, shopkeeper, engineer, tailor, painter, surgeon,
accountant, astronaut, janitor, cashier, detective, professor, chef, lifeguard, electrician,
pharmacist, translator, shepherd, locksmith, jeweler, veterinarian, referee, novelist, blacksmith,
courier, beekeeper, zookeeper, sculptor, florist, mayor, conductor, potter""")
KIN = L("""grandmother, grandfather, uncle, aunt, cousin, sister, brother, nephew, niece,
godmother, roommate, classmate, landlord, coworker""")
NAMES = L("""Clara, Oliver, Priya, Mateo, Hannah, Kwame, Ingrid, Tobias, Yusuf, Beatrice, Dmitri,
Aisha, Leonard, Sofia, Rajesh, Gwendolyn, Hiroshi, Fatima, Esther, Benedict, Lucia, Magnus,
Theodora, Leopold, Rosalind, Chidi, Agnes, Felix""")
GROUPS = L("""the children, my parents, the students, our guests, the tourists, the twins,
the volunteers, the neighbors, my colleagues, the campers, the musicians, the players""")
PRONOUNS = [("I", "me", "1s"), ("we", "us", "pl"), ("they", "them", "pl"),
            ("you", "you", "pl"), ("she", "her", "3s"), ("he", "him", "3s")]
ANIMALS = L("""fox, owl, hedgehog, squirrel, otter, beaver, raccoon, parrot, tortoise, goat,
donkey, kitten, puppy, heron, badger, rabbit, lizard, penguin, peacock, pelican, moose, hamster,
crow, seal, llama, camel, ferret, woodpecker, flamingo""")
WORK = L("""report, spreadsheet, invoice, proposal, contract, budget, presentation, schedule,
newsletter, manuscript, survey, blueprint, inventory, agenda, website, prototype, brochure""")
INDOOR = L("""in the kitchen, in the library, inside the cathedral, in the attic, in the basement,
in the greenhouse, in the laboratory, in the gymnasium, in the warehouse, in the cafeteria,
in the hallway, in the garage, at the pharmacy, in the classroom, in the concert hall, in the barn,
in the studio, in the waiting room, in the observatory, at the aquarium, at the museum,
at the bakery, in the workshop, at the train station, at the airport, in the hotel lobby,
at the town hall, in the bookshop""")
OUTDOOR = L("""near the harbor, by the river, beside the lighthouse, in the meadow, in the canyon,
on the glacier, in the orchard, in the vineyard, at the marketplace, on the balcony,
on the rooftop, in the courtyard, at the campsite, on the ferry, at the stadium,
near the waterfall, on the beach, in the forest, at the zoo, in the parking lot, in the swamp,
on the island, on the pier, in the village square, on the farm, at the bus stop, in the jungle,
in the desert, on the prairie, at the reservoir, in the botanical garden, along the canal,
in Lisbon, in Nairobi, in Edinburgh, in Melbourne, in Toronto, in Reykjavik, in Marrakesh,
in Vancouver, in Budapest, in Santiago, in Kyoto, in Helsinki""")
TRANSPORT = L("""by train, by ferry, by bicycle, by bus, by plane, by canoe, by motorcycle, by tram,
on foot, by taxi, by sailboat, by helicopter, on horseback, by overnight train, by cable car""")

# ----------------------------------------------------------------------------- adjectives
THING_ADJ = L("""heavy, fragile, shiny, rusty, enormous, tiny, crooked, ancient, polished, elegant,
colorful, sturdy, delicate, expensive, mysterious, ordinary, peculiar, battered, gleaming, ornate,
flimsy, bulky, handmade, scratched, faded, lopsided, squeaky, waterproof, antique, glittering,
secondhand, dented, velvet, wobbly, miniature, unusual""")
FOOD_ADJ = L("""crispy, spicy, bitter, sweet, salty, delicious, tender, creamy, sour, bland, juicy,
smoky, fragrant, stale, greasy, tangy, crunchy, chewy, lukewarm, overcooked, scrumptious, savory,
peppery, sticky""")
FEEL_ADJ = L("""nervous, cheerful, exhausted, grateful, curious, anxious, delighted, confused,
embarrassed, proud, jealous, patient, stubborn, generous, thoughtful, furious, relieved, homesick,
bewildered, optimistic, restless, sleepy, lonely, hopeful, astonished, irritable, content,
overwhelmed, enthusiastic, miserable, calm, puzzled, sheepish""")
PLACE_GOOD = L("""peaceful, spacious, cozy, charming, spotless, breathtaking, tranquil, sunny,
enchanting, lively, picturesque, magnificent, serene""")
PLACE_BAD = L("""crowded, chilly, gloomy, noisy, dusty, humid, muddy, chaotic, drafty, freezing,
cramped, eerie, deserted, slippery, smoky""")
SKY_ADJ = L("foggy, stormy, overcast, cloudless, misty, hazy, pale, starry, thundery, violet")
WIND_ADJ = L("bitter, gentle, howling, damp, icy, warm, blustery, fierce, salty, dry, biting")
IT_WEATHER = L("""foggy, stormy, windy, drizzly, sweltering, frosty, overcast, misty, blustery,
icy, pouring, scorching, sleeting""")
PERSON_ADJ = L("""young, elderly, new, tired, cheerful, retired, friendly, famous, local, talented,
grumpy, clever""")
ANIMAL_ADJ = L("""curious, sleepy, hungry, clever, shy, playful, scruffy, fluffy, stubborn, timid,
restless, young, muddy, elderly""")
WORK_ADJ = L("quarterly, revised, final, annual, monthly, detailed, preliminary, updated, urgent")
COMP_PLACE = L("""cold, warm, quiet, noisy, busy, dark, bright, big, small, calm, hot, wet, empty,
clean, lively, gloomy, windy, strange""")
COMP_THING = L("heavy, small, tiny, smooth, rough, cheap, shiny, old, strange, big, simple, sturdy")
COMP_FOOD = L("sweet, salty, spicy, fresh, hot, crisp, bland, cheap, rich, tasty, greasy")
INTENS = L("surprisingly, rather, quite, incredibly, slightly, remarkably, unusually, terribly")
ADVERBS = L("""quickly, carefully, quietly, eagerly, reluctantly, gracefully, clumsily, patiently,
suddenly, cautiously, proudly, nervously, gently, happily, secretly, politely, angrily, calmly,
gladly, swiftly, thoroughly, awkwardly, briskly, cheerfully, silently, anxiously, hastily,
deliberately, tenderly, lazily, bravely, sheepishly, frantically, casually, confidently,
grudgingly, wearily, meticulously, playfully, boldly, hurriedly, steadily, diligently""")
FREQ = L("usually, often, rarely, always, sometimes, never, occasionally, seldom")

# ----------------------------------------------------------------------------- times
PAST_TIMES = L("""yesterday morning, last winter, on Sunday afternoon, after the storm,
before sunrise, during the holidays, at dawn, over the weekend, a few weeks ago, in early spring,
just after lunch, on Friday evening, recently, at midnight, earlier today,
shortly before noon, during the festival, after the concert, long ago, on a rainy Tuesday,
in late autumn, the previous night, that summer""")
FUTURE_TIMES = L("""tomorrow evening, next spring, later tonight, this weekend, in a few days,
on Thursday, after the holidays, by the end of the month, before the guests arrive,
next summer, on Saturday morning, sometime soon, after the meeting, once the rain stops,
in the new year, before winter comes, the day after tomorrow""")
HABIT_TIMES = L("""every morning, on weekends, most evenings, twice a week, every summer,
on Mondays, during the winter, whenever it rains, after dinner, before breakfast,
every other day, once a month, in the afternoons, at lunchtime""")
DEADLINES = L("""before the meeting, by Friday, before lunch, by the end of the day,
before the deadline, by tomorrow afternoon, before the client arrives, before the holidays,
by Wednesday, before the inspection""")
DURATIONS = L("for hours, since breakfast, all afternoon, for ages, since last week, all day")


# ----------------------------------------------------------------------------- verbs
def s_form(b):
    if b == "have":
        return "has"
    if b.endswith(("s", "x", "z", "ch", "sh", "o")):
        return b + "es"
    if b.endswith("y") and b[-2] not in "aeiou":
        return b[:-1] + "ies"
    return b + "s"


def ing_form(b, past):
    if past == b + b[-1] + "ed":  # stop stopped stopping
        return b + b[-1] + "ing"
    if b.endswith("ie"):
        return b[:-2] + "ying"
    if b.endswith("e") and not b.endswith(("ee", "oe", "ye")):
        return b[:-1] + "ing"
    return b + "ing"


class Verb:
    """From 'base past [pp|-] [ing]'; the third person singular and the -ing form are derived."""

    def __init__(self, spec):
        f = spec.split()
        self.base, self.past = f[0], f[1]
        self.pp = f[2] if len(f) > 2 and f[2] != "-" else self.past
        self.ing = f[3] if len(f) > 3 else ing_form(self.base, self.past)
        self.s = s_form(self.base)


def V(text):
    return [Verb(x) for x in L(text)]


THING_V = V("""repair repaired, polish polished, borrow borrowed, wrap wrapped, find found,
lose lost, drop dropped, sell sold, buy bought, hide hid hidden, describe described,
photograph photographed, measure measured, carry carried, return returned, clean cleaned,
paint painted, examine examined, unpack unpacked, decorate decorated, replace replaced,
deliver delivered, fix fixed, lend lent, steal stole stolen, break broke broken, inspect inspected,
sketch sketched, choose chose chosen, bring brought, drag dragged, forget forgot forgotten
forgetting, misplace misplaced, adjust adjusted, test tested, weigh weighed, rescue rescued,
assemble assembled, donate donated, scrub scrubbed, store stored, dust dusted, admire admired,
auction auctioned, restore restored""")
WHERE_V = [v for v in THING_V if v.base in
           "hide find buy lose sell misplace store borrow repair leave donate".split()]
FOOD_V = V("""taste tasted, share shared, order ordered, serve served, pack packed, sample sampled,
devour devoured, prepare prepared, finish finished, enjoy enjoyed, recommend recommended,
eat ate eaten, make made, crave craved, cook cooked, smell smelled""")
EVER_V = [v for v in FOOD_V if v.base in "taste eat make order prepare sample cook".split()]
PERSON_V = V("""visit visited, thank thanked, call called, invite invited, meet met, help helped,
interview interviewed, congratulate congratulated, greet greeted, recognize recognized,
follow followed, reassure reassured, warn warned, surprise surprised, encourage encouraged,
comfort comforted, forgive forgave forgiven, hug hugged, interrupt interrupted,
convince convinced, hire hired, applaud applauded, notice noticed, photograph photographed""")
FIRST_V = [v for v in PERSON_V if v.base in "meet notice interview photograph recognize".split()]
PLACE_V = V("""explore explored, visit visited, reach reached, describe described, decorate decorated,
photograph photographed, leave left, search searched, tour toured, sweep swept, guard guarded,
remember remembered, approach approached, evacuate evacuated, admire admired, renovate renovated,
patrol patrolled, inspect inspected, sketch sketched""")
INTR_V = V("""laugh laughed, whisper whispered, wait waited, complain complained,
hesitate hesitated, shiver shivered, celebrate celebrated, apologize apologized,
stumble stumbled, wander wandered, sneeze sneezed, giggle giggled, sigh sighed, cough coughed,
frown frowned, blush blushed, yawn yawned, nod nodded, shrug shrugged, grin grinned,
panic panicked - panicking, relax relaxed, pause paused, dance danced, sing sang sung,
weep wept, sulk sulked, wince winced, cheer cheered, gasp gasped""")
ANIMAL_V = V("""sleep slept, hide hid hidden, wander wandered, nap napped, rest rested,
appear appeared, linger lingered, doze dozed, shiver shivered, play played, vanish vanished,
sit sat - sitting, lie lay lain, bask basked, splash splashed, scurry scurried, waddle waddled""")
WORK_V = V("""revise revised, submit submitted, review reviewed, finish finished, approve approved,
translate translated, print printed, draft drafted, update updated, proofread proofread,
present presented, analyze analyzed, redesign redesigned, summarize summarized, edit edited,
check checked, rewrite rewrote rewritten""")
SCI_V = V("""study studied, explain explained, measure measured, describe described,
investigate investigated, demonstrate demonstrated, film filmed, observe observed,
model modeled, record recorded""")
ACTIVITIES = [(Verb(v), rest) for v, rest in (x.split(" | ") for x in L("""
go went gone | for a walk, have had | a picnic, play played | cards, fly flew flown | a kite,
collect collected | seashells, take took taken | photographs, go went gone | swimming,
go went gone | jogging, read read | poetry, watch watched | the clouds, build built | a sandcastle,
ride rode ridden | horses, feed fed | the ducks, sketch sketched | the rooftops,
climb climbed | the rocks, pick picked | wildflowers, play played | chess,
practice practiced | yoga, catch caught | fish, gather gathered | firewood,
study studied | the stars, paint painted | landscapes, hunt hunted | for fossils,
search searched | for mushrooms, sing sang sung | folk songs, chase chased | butterflies,
look looked | for birds, throw threw thrown | a frisbee"""))]

SCIENCE = L("""glaciers move, bees communicate, volcanoes erupt, crystals grow, comets travel,
whales navigate, bacteria multiply, clouds form, rivers carve canyons, birds migrate,
muscles recover, stars collapse, fungi spread, coral reefs recover, octopuses change color,
ants build colonies, seeds sprout, earthquakes start, neurons send signals, galaxies collide,
storms gather strength, forests regrow after fires, lightning forms, bats find insects,
salmon return upstream, fireflies produce light, chameleons change color, tides shape beaches""")
RESEARCHERS = L("""the scientists, a team of biologists, the chemist, our physics teacher,
the geologist, the astronomer, a group of students, the marine biologist, the researchers,
the zoologist, my professor, the botanist""")
SCI_CONTEXT = L("""in great detail, for several years, with great patience, over many decades,
using satellite images, during the expedition, with computer models, in remote areas,
for a documentary, in a recent paper, for a school project, in a popular lecture""")
WEATHER_NEWS = L("""heavy showers, dense fog, scattered thunderstorms, freezing rain, strong gusts,
a light drizzle, a sudden heatwave, hailstorms, clear skies, a blizzard, gale force winds,
patchy frost, torrential rain""")
IADV = L("""carefully, gently, quickly, thoroughly, quietly, slowly, politely, patiently,
cautiously, neatly, properly, immediately, firmly""")
IMP_V = [v for v in THING_V if v.base not in "steal break lose forget misplace drop drag".split()]
SIMPLE_FUTURE = [t for t in FUTURE_TIMES if not t.startswith(("once", "before"))]

R = random.Random()
c = R.choice
STATE = {"k": "3s", "subj": ""}  # agreement of the last subject drawn: '1s', '3s' or 'pl'


def cap(s):
    return s[0].upper() + s[1:]


def a(word):
    w = word.lower()
    vowel = w[0] in "aeiou" and not w.startswith(("uni", "use", "eu", "one"))
    return ("an " if vowel or w.startswith(("hour", "honest", "heir")) else "a ") + word


def person_np():
    r = R.random()
    if r < 0.25:
        return c(NAMES)
    if r < 0.4:
        return f"{c(['my', 'our', 'your'])} {c(KIN)}"
    if r < 0.6:
        return f"the {c(PERSON_ADJ)} {c(PEOPLE)}"
    return f"{c(['the', 'the', 'the', 'that'])} {c(PEOPLE)}"


def subj(pron=True):
    """(subject form, object form, agreement)."""
    r = R.random()
    if pron and r < 0.15:
        return c(PRONOUNS)
    if r < 0.25:
        g = c(GROUPS)
        return g, g, "pl"
    p = person_np()
    return p, p, "3s"


def set_subj(s):
    STATE.update(subj=s[0], k=s[2])
    return s[0]


def food(set_agreement=False):
    name, kind = c(FOODS)
    if set_agreement:
        STATE["k"] = "pl" if kind == "p" else "3s"
        return name
    return a(name) if kind == "c" else name


def grade(adj):
    """(comparative, superlative) of a short adjective."""
    if adj.endswith("e"):
        return adj + "r", adj + "st"
    if adj.endswith("y"):
        return adj[:-1] + "ier", adj[:-1] + "iest"
    if adj in ("big", "hot", "wet", "sad", "thin"):
        return adj + adj[-1] + "er", adj + adj[-1] + "est"
    return adj + "er", adj + "est"


def thing_np():
    d = c(["the", "the", "this", "that"])
    return f"{d} {c(THING_ADJ)} {c(THINGS)}" if R.random() < 0.45 else f"{d} {c(THINGS)}"


def verb_form(v, form):
    if form == "pres":
        return v.s if STATE["k"] == "3s" else v.base
    return getattr(v, form)


VERBS = {"tv": THING_V, "imp": IMP_V, "wherev": WHERE_V, "fv": FOOD_V, "ev": EVER_V, "pv": PERSON_V,
         "mv": FIRST_V, "lv": PLACE_V, "iv": INTR_V, "av": ANIMAL_V, "wv": WORK_V, "sv": SCI_V}
SLOTS = {
    # {S}, {N} (no pronoun) and {PR} (pronoun) draw a subject and set the agreement that
    # {be}, {was}, {have}, '.pres' verb forms and {=verb} follow; {food_k} sets it too
    "S": lambda: set_subj(subj()), "N": lambda: set_subj(subj(False)),
    "PR": lambda: set_subj(c(PRONOUNS[:4])), "same": lambda: STATE["subj"],
    "O": lambda: subj()[1], "P": person_np, "thing_np": thing_np,
    "food_bare": food, "food_k": lambda: food(True),
    "be": lambda: {"1s": "am", "3s": "is", "pl": "are"}[STATE["k"]],
    "was": lambda: "were" if STATE["k"] == "pl" else "was",
    "have": lambda: "has" if STATE["k"] == "3s" else "have",
    "A": lambda: "\x00",  # a or an, decided by the next word
}
PICK = {  # slots that draw one item of a list
    "thing": THINGS, "food": [f for f, _ in FOODS], "animal": ANIMALS, "work": WORK,
    "person": PEOPLE, "name": NAMES, "place": INDOOR + OUTDOOR, "out": OUTDOOR,
    "place_np": [p.split(" ", 1)[1] for p in INDOOR + OUTDOOR],
    "out_np": [p.split(" ", 1)[1] for p in OUTDOOR], "transport": TRANSPORT,
    "past": PAST_TIMES, "future": FUTURE_TIMES, "sfuture": SIMPLE_FUTURE, "habit": HABIT_TIMES,
    "deadline": DEADLINES, "dur": DURATIONS, "sci": SCIENCE, "researcher": RESEARCHERS,
    "sci_ctx": SCI_CONTEXT, "weather_news": WEATHER_NEWS, "tadj": THING_ADJ, "fadj": FOOD_ADJ,
    "feel": FEEL_ADJ, "pgood": PLACE_GOOD, "pbad": PLACE_BAD, "padj": PLACE_GOOD + PLACE_BAD,
    "sky": SKY_ADJ, "wind": WIND_ADJ, "itw": IT_WEATHER, "aadj": ANIMAL_ADJ, "wadj": WORK_ADJ,
    "intens": INTENS, "adv": ADVERBS, "iadv": IADV, "freq": FREQ,
    "cmp_place": [grade(x)[0] for x in COMP_PLACE], "cmp_thing": [grade(x)[0] for x in COMP_THING],
    "cmp_food": [grade(x)[0] for x in COMP_FOOD], "sup_thing": [grade(x)[1] for x in COMP_THING],
}
PICK.update({k: L(v) for k, v in {  # longer alternatives
    "if_weather": "rains, snows, gets too windy, turns cold, starts to hail, clears up, stays sunny",
    "unreal": "had more time, had a bigger budget, knew the way, spoke the language, were braver,"
              "had a car, were not so busy",
    "got": "bought, ordered, packed, brought home, picked up, shared, tasted",
    "for": "at the market, for the picnic, for the party, on the way home, at the fair",
    "pack": "Don't forget to pack, Remember to bring, We still need, I packed, She forgot",
    "said": "said, mentioned, warned us, claimed, promised, insisted, predicted",
    "news": "The forecast, The radio, The weather service, My phone, The newspaper",
    "hey": "Well, Honestly, Look, Listen, Oh dear, Come on",
    "amount": "too, far too, a bit, a little, rather",
    "reaction": "couldn't resist, asked for the recipe, ordered a second helping,"
                "forgot about dinner, started to smile",
    "fine_if": "the weather is nice, the forecast stays dry, the sky is clear, the roads are safe,"
               "it stops raining, the wind dies down",
}.items()})

# One sentence pattern a line. {slot} draws from SLOTS or PICK; {x|y|z} picks one;
# {tv.past} is a verb of a set in VERBS in a form (base past pp ing pres); {act.FORM} is an
# activity (verb plus its complement); {=taste} conjugates a verb for the current subject.
PATTERNS = [p for p in """
{S} {tv.past} {thing_np} {place} {past}.
Did {S} {tv.base} {thing_np} {past}?
Where did {S} {wherev.base} the {tadj} {thing}?
{Please |Kindly |Remember to |Try to |Be sure to |}{imp.base} the {tadj} {thing} {iadv}.
{Do not|Never|Please do not} {tv.base} the {thing} {place}{.|!|, please.}
If it {if_weather} {sfuture}, {S} will {act.base}.
If {S} {wv.pres} the {work} early, we can {lv.base} {out_np} {sfuture}.
If {PR} {unreal}, {same} would {lv.base} {place_np} {adv}.
If {PR} lived closer to {out_np}, {same} would {act.base} {habit}.
The {person} who {tv.past} {thing_np} {past} was {feel}.
The {thing} that {S} {tv.past} {place} was {intens} {tadj}.
{place_np} is where {S} first {mv.past} {P}.
{S} {got} {food_bare}, {food_bare}, and {food_bare} {for}.
{pack} {A} {thing}, {A} {thing}, and {A} {thing}.
{S} {iv.past} {adv} when {S} {tv.past} the {thing}.
{S} {felt|seemed|looked|became|grew} {feel} after {fv.ing} the {food}.
{S} {was} too {feel} to {imp.base} {thing_np}.
This {thing} is just as {tadj} as the one {S} {tv.past} {place}.
{place_np} was {cmp_place} than {S} had expected.
{Today|Somehow|Tonight|This time} the {food_k} {=taste} {cmp_food} than usual.
The {thing} {is|was|looks|felt} {much|far|a little|slightly} {cmp_thing} than the {thing}.
That was {easily|probably|surely|clearly} the {sup_thing} {thing} {place}.
{N} {said} that {place_np} would be {padj} {sfuture}.
{N} {told me|admitted|explained|confessed|revealed|told us} that {N} had {tv.pp} {thing_np} {place}.
{N} {asked whether|wondered if|wanted to know if|asked if} we could {tv.base} {thing_np} {future}.
{S} will {pv.base} {P} {place} {future}.
{S} {be} going to {lv.base} {place_np} {future}.
{S} {freq} {fv.pres} {food_bare} {place}.
{S} {fv.pres} {food_bare} {habit}.
{S} {freq} {act.pres} {out}.
{S} {act.pres} {habit}.
{Right now,|At the moment,|Look,|Listen,|As we speak,} {S} {be} {tv.ing} the {thing} {place}.
{past}, the sky over {out_np} was {sky} and {still|silent|strange|beautiful|heavy|restless}.
{A} {wind} wind {blew|swept|whistled|raced|howled} across {out_np} {past}.
{news} {predicted|warned of|promised|mentioned} {weather_news} over {out_np} {sfuture}.
What {A} {tadj} {thing}, {name}!
How {pgood} {out_np} looks {this morning|tonight|in the snow|at dawn|after the rain|today}!
Why was {place_np} so {pbad} {past}?
Have you ever {tv.pp} {A} {tadj} {thing} {place}?
Has {P} ever {ev.pp} {food_bare}?
Would you mind {imp.ing} the {thing} {place}?
{Could you|Would you|Can you|Could someone} {imp.base} the {thing} {place}{, please?|?| for me?}
{researcher} {sv.past} how {sci} {sci_ctx}.
{Do you know how|Can anyone explain how|Has anyone figured out why} {sci}?
{Nobody fully understands why|I wonder why|It is fascinating how|Scientists still debate how} {sci}.
{S} {have} to {wv.base} the {wadj} {work} {deadline}.
{Has anyone|Has somebody|Have you|Has the manager} {wv.pp} the {wadj} {work} yet?
{S} {traveled|went|returned|headed|journeyed|hurried back} to {out_np} {transport} {past}.
{S} wanted to {lv.base} {place_np}, but it was {too|far too|much too} {pbad}.
Either {P} or {P} will {pv.base} {P} {future}.
There was {A} {tadj} {thing} {place} {past}.
The {thing} was {tv.pp} by {O} {past}.
Although it was {itw}, {S} {act.past} {out}.
{S} {went|hurried|walked|drove|rushed|cycled|wandered} to {out_np} to {act.base}.
{We should|Let's|Maybe we could|I'd love to|We ought to} {act.base} {out} {future}.
Why don't we {act.base} {out} {sfuture}?
{hey}, {name}, the {food_k} {be} {amount} {fadj}.
{Hey|Excuse me|Sorry|Quick}, {name}, have you seen the {tadj} {thing}?
{Sure|Of course|Fine|No problem|Alright}, I'll {imp.base} the {thing} {future}.
{A} {aadj} {animal} {av.past} {place} {past}.
Is the {thing} still {place}, or did {S} {sell|lend|hide|donate|move|return|borrow|pawn} it?
How long did it take {O} to {lv.base} {place_np}?
The {food_k} {smelled|looked} so {fadj} that {S} {reaction}.
{S} {have} been {tv.ing} the {thing} {dur}.
Let's {lv.base} {out_np} {sfuture} if {fine_if}.
{S} {pv.past} {P} {adv} {past}.
Did you see the {aadj} {animal} {av.ing} {out}?
""".strip().splitlines()]


def slot(m):
    key = m.group(1)
    if "|" in key:
        return c(key.split("|"))
    if key in PICK:
        return c(PICK[key])
    if key.startswith("="):
        return verb_form(Verb(key[1:] + " -"), "pres")
    if key.startswith("act."):
        v, rest = c(ACTIVITIES)
        return f"{verb_form(v, key[4:])} {rest}"
    if "." in key:
        name, form = key.split(".")
        return verb_form(c(VERBS[name]), form)
    return SLOTS[key]()


def fill(pattern):
    s = pattern
    while "{" in s:  # innermost slots first, left to right
        s = re.sub(r"\{([^{}]*)\}", slot, s)
    s = re.sub(r"\x00 (\w+)", lambda m: a(m.group(1)), " ".join(s.split()))
    return cap(s)


# ----------------------------------------------------------------------------- checks
OK = re.compile(r"^[A-Z][A-Za-z']*,?( [A-Za-z']+,?)*[.?!]$")


def valid(s):
    return bool(OK.match(s)) and 5 <= len(s.split()) <= 16 and "''" not in s


def repeats(s):
    """A doubled word, or a word of five letters or more used twice (as in a list)."""
    ws = [w.strip(",.?!").lower() for w in s.split()]
    long = [w for w in ws if len(w) >= 5]
    return len(set(long)) < len(long) or any(x == y for x, y in zip(ws, ws[1:]))


def hand(text):
    out = [t.strip() for t in text.strip().splitlines() if t.strip()]
    bad = [t for t in out if not valid(t)]
    assert not bad, bad
    assert len(set(out)) == len(out)
    return out


def compose(n, seed, exclude):
    """n new sentences, visiting the patterns in turn so that each contributes equally."""
    R.seed(seed)
    out, seen, tries = [], set(exclude), 0
    while len(out) < n:
        for pattern in PATTERNS:
            s = fill(pattern)
            tries += 1
            assert tries < 100 * n, "grammar too small"
            if s not in seen and valid(s) and not repeats(s):
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return out


def words(lines):
    return [w.strip(",.?!").lower() for s in lines for w in s.split()]


STOP = set("""a an the and or but of to in on at by for with from over across near behind into
that this than who where what why how is are was were be been am will would could can should do
did does have has had not it its i me my we us our you your he him his she her they them their
there so too if as when while after before all just very still yet ever don't let's i'll i'm
let""".split())


def stats(name, lines):
    ws = words(lines)
    doc = Counter(w for s in lines for w in set(words([s])))
    top = [(w, n) for w, n in doc.most_common() if w not in STOP][:8]
    print(f"{name}: {len(lines)} sentences, {len(ws)} words, {len(set(ws))} distinct words, "
          f"mean {len(ws) / len(lines):.1f} words per sentence")
    print("  most frequent content words (share of sentences): "
          + ", ".join(f"{w} {100 * n / len(lines):.1f}%" for w, n in top))


def main():
    hand_train, hand_test = hand(HAND_TRAIN), hand(HAND_TEST)
    assert not set(hand_train) & set(hand_test)
    train = hand_train + compose(N_TRAIN - len(hand_train), SEED_TRAIN, hand_train + hand_test)
    test = hand_test + compose(N_TEST - len(hand_test), SEED_TEST, train + hand_test)
    random.Random(SEED_TRAIN).shuffle(train)
    random.Random(SEED_TEST).shuffle(test)
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    (HERE / "sentences_en.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (HERE / "sentences_test_en.txt").write_text("\n".join(test) + "\n", encoding="utf-8")
    nouns = (THINGS + [f[0] for f in FOODS] + PEOPLE + KIN + ANIMALS + WORK
             + [p.split(" ", 1)[1] for p in INDOOR + OUTDOOR])
    verbs = {v.base for vs in list(VERBS.values()) + [[v for v, _ in ACTIVITIES]] for v in vs}
    adjs = set(THING_ADJ + FOOD_ADJ + FEEL_ADJ + PLACE_GOOD + PLACE_BAD + SKY_ADJ + WIND_ADJ
               + IT_WEATHER + PERSON_ADJ + ANIMAL_ADJ + WORK_ADJ + COMP_PLACE + COMP_THING
               + COMP_FOOD)
    print(f"grammar: {len(PATTERNS)} patterns, {len(set(nouns))} nouns, {len(verbs)} verbs, "
          f"{len(adjs)} adjectives, {len(INDOOR) + len(OUTDOOR)} places, "
          f"{len(PAST_TIMES) + len(FUTURE_TIMES) + len(HABIT_TIMES)} time phrases, "
          f"{len(PEOPLE) + len(KIN) + len(NAMES) + len(GROUPS) + len(PRONOUNS)} people, "
          f"{len(set(ADVERBS + IADV + FREQ))} adverbs")
    print(f"hand-written: {len(hand_train)} train, {len(hand_test)} test")
    stats("sentences_en.txt", train)
    stats("sentences_test_en.txt", test)


if __name__ == "__main__":
    main()
