"""20 questions, each with one passage that answers it and four that do not.

The distractors are near misses: the same subject, often the same words, but not the
answer (another river's length, another planet's moons), so a ranker must read past
word overlap. The relevant passage is always at index 0 here; ``bench/rerank.py``
shuffles each list with a fixed seed before ranking.
"""

from __future__ import annotations

#: (query, [relevant passage, distractor, distractor, distractor, distractor])
QUERIES: list[tuple[str, list[str]]] = [
    (
        "How long is the Nile river?",
        [
            "The Nile flows north through eleven countries for about 6,650 kilometres, "
            "which makes it one of the two longest rivers on Earth.",
            "The Amazon carries more water than any other river and drains a basin of "
            "about seven million square kilometres.",
            "Ancient Egyptian farmers depended on the yearly flood of the Nile to "
            "water their fields and renew the soil.",
            "The Aswan High Dam, finished in 1970, created Lake Nasser and ended the "
            "annual flooding downstream.",
            "The Danube passes through ten countries, more than any other river in the world.",
        ],
    ),
    (
        "What causes the seasons on Earth?",
        [
            "Seasons happen because Earth's axis is tilted about 23.4 degrees, so each "
            "hemisphere leans toward the Sun for part of the year and receives more "
            "direct sunlight.",
            "Earth's orbit is slightly elliptical, and the planet is actually closest to "
            "the Sun in early January.",
            "Monsoon seasons in South Asia bring heavy rain when winds reverse direction "
            "between summer and winter.",
            "Many deciduous trees drop their leaves in autumn to save water through the winter.",
            "A solar eclipse occurs when the Moon passes between the Sun and Earth.",
        ],
    ),
    (
        "Who wrote Pride and Prejudice?",
        [
            "Jane Austen published Pride and Prejudice in 1813; it follows Elizabeth "
            "Bennet and her clashes with the proud Mr Darcy.",
            "Charlotte Bronte's Jane Eyre, published in 1847, tells the story of an "
            "orphaned governess.",
            "Prejudice in hiring remains a subject of study for labour economists.",
            "The 2005 film adaptation starred Keira Knightley and was shot in Derbyshire.",
            "Mary Shelley wrote Frankenstein when she was eighteen.",
        ],
    ),
    (
        "How do vaccines protect against disease?",
        [
            "A vaccine exposes the immune system to a harmless piece or weakened form of "
            "a pathogen, so it makes antibodies and memory cells that fight the real "
            "infection quickly later.",
            "Antibiotics kill bacteria or stop them from growing but have no effect on viruses.",
            "Edward Jenner tested smallpox inoculation in 1796 using material from cowpox sores.",
            "Some diseases spread through contaminated water rather than through the air.",
            "Vaccine storage often requires refrigeration between two and eight degrees Celsius.",
        ],
    ),
    (
        "What is the boiling point of water at sea level?",
        [
            "At standard sea-level pressure, pure water boils at 100 degrees Celsius, "
            "or 212 degrees Fahrenheit.",
            "On a high mountain the air pressure is lower, so water boils at a lower "
            "temperature and pasta takes longer to cook.",
            "Sea water freezes at about minus two degrees Celsius because of its dissolved salt.",
            "The sea level has risen about twenty centimetres since 1900.",
            "Water is densest at around four degrees Celsius.",
        ],
    ),
    (
        "How many moons does Mars have?",
        [
            "Mars has two small moons, Phobos and Deimos, which were discovered by Asaph "
            "Hall in 1877.",
            "Jupiter has more than ninety known moons, including the four large Galilean moons.",
            "Mars is called the red planet because iron oxide dust covers its surface.",
            "Earth's Moon is the fifth largest natural satellite in the solar system.",
            "A day on Mars lasts about 24 hours and 39 minutes.",
        ],
    ),
    (
        "What does the mitochondria do in a cell?",
        [
            "Mitochondria produce most of a cell's supply of ATP through cellular "
            "respiration, which is why they are called the powerhouse of the cell.",
            "The nucleus holds the cell's DNA and controls gene expression.",
            "Chloroplasts in plant cells capture light energy for photosynthesis.",
            "Red blood cells in mammals lose their nucleus as they mature.",
            "A cell membrane is a lipid bilayer that controls what enters and leaves the cell.",
        ],
    ),
    (
        "When did the Berlin Wall fall?",
        [
            "The Berlin Wall fell on 9 November 1989, when East German authorities opened "
            "the border crossings and crowds began tearing it down.",
            "The Berlin Wall was built in August 1961 to stop emigration from East to "
            "West Germany.",
            "Germany was formally reunified on 3 October 1990.",
            "The Great Wall of China stretches thousands of kilometres across northern China.",
            "Berlin is home to more than three million people and many museums.",
        ],
    ),
    (
        "How does a refrigerator keep food cold?",
        [
            "A refrigerator pumps a refrigerant that evaporates inside the cabinet, "
            "absorbing heat, and condenses in coils at the back, releasing that heat "
            "into the kitchen.",
            "Keeping food cold slows the growth of bacteria that cause spoilage.",
            "Ice houses stored winter ice packed in sawdust to keep it frozen into summer.",
            "Most food should not be left at room temperature for more than two hours.",
            "An oven heats food with electric elements or a gas flame.",
        ],
    ),
    (
        "What is the largest ocean?",
        [
            "The Pacific Ocean is the largest and deepest ocean, covering about a third "
            "of Earth's surface.",
            "The Atlantic Ocean separates the Americas from Europe and Africa.",
            "The largest desert on Earth is Antarctica, a cold desert.",
            "Ocean currents move heat from the equator toward the poles.",
            "The Mariana Trench reaches nearly eleven kilometres below sea level.",
        ],
    ),
    (
        "Who painted the Mona Lisa?",
        [
            "Leonardo da Vinci painted the Mona Lisa in the early sixteenth century; "
            "it hangs in the Louvre in Paris.",
            "Michelangelo painted the ceiling of the Sistine Chapel between 1508 and 1512.",
            "The Mona Lisa was stolen from the museum in 1911 and recovered two years later.",
            "Vincent van Gogh painted The Starry Night in 1889.",
            "Oil paint dries slowly, which lets painters blend colours on the canvas.",
        ],
    ),
    (
        "How fast does light travel?",
        [
            "In a vacuum, light travels at about 299,792 kilometres per second, the "
            "fastest speed possible in physics.",
            "Sound travels through air at about 343 metres per second.",
            "A light year is a unit of distance, not of time.",
            "Light bends when it passes from air into water, which is called refraction.",
            "Fibre optic cables carry data as pulses of light.",
        ],
    ),
    (
        "What is the main ingredient of guacamole?",
        [
            "Guacamole is made mostly of mashed ripe avocado, with lime juice, salt, "
            "onion and chilli.",
            "Salsa is usually made from chopped tomatoes, onions and peppers.",
            "Avocado trees are native to south-central Mexico.",
            "Hummus is a dip made from chickpeas and tahini.",
            "The main ingredient of most bread is wheat flour.",
        ],
    ),
    (
        "Why is the sky blue?",
        [
            "Air molecules scatter short blue wavelengths of sunlight much more than "
            "long red ones (Rayleigh scattering), so blue light reaches our eyes from "
            "every part of the sky.",
            "Sunsets look red and orange because sunlight crosses more atmosphere near "
            "the horizon.",
            "The ocean often looks blue partly because water absorbs red light.",
            "Blue whales are the largest animals known to have lived.",
            "Clouds look white because their droplets scatter all colours equally.",
        ],
    ),
    (
        "How many players are on a football team on the field?",
        [
            "In association football each team has eleven players on the pitch, one of "
            "whom is the goalkeeper.",
            "A basketball team plays with five players on the court at a time.",
            "The football World Cup has been held every four years since 1930, except "
            "during the war.",
            "Rugby union teams field fifteen players.",
            "A football pitch is usually between 100 and 110 metres long.",
        ],
    ),
    (
        "What is photosynthesis?",
        [
            "Photosynthesis is the process by which plants use light energy to turn "
            "carbon dioxide and water into glucose and oxygen.",
            "Plants take up water and minerals through their roots.",
            "Cellular respiration releases energy by breaking down glucose.",
            "Photography records light on a sensor or film.",
            "Some plants, like the Venus flytrap, catch insects for nutrients.",
        ],
    ),
    (
        "Where is Mount Everest?",
        [
            "Mount Everest lies in the Himalayas on the border between Nepal and the "
            "Tibet region of China.",
            "K2, the second highest mountain, is in the Karakoram range.",
            "Mount Kilimanjaro is the highest mountain in Africa.",
            "Climbers need bottled oxygen above about eight thousand metres.",
            "Edmund Hillary and Tenzing Norgay first reached the summit in 1953.",
        ],
    ),
    (
        "How do bees make honey?",
        [
            "Bees collect nectar, break down its sugars with enzymes, store it in "
            "honeycomb cells and fan it with their wings until enough water evaporates "
            "to make honey.",
            "Honey never spoils if it is kept sealed, thanks to its low moisture and acidity.",
            "Bees pollinate many crops, including apples and almonds.",
            "A queen bee can lay more than a thousand eggs a day.",
            "Maple syrup is made by boiling down the sap of sugar maple trees.",
        ],
    ),
    (
        "What is the capital of Australia?",
        [
            "Canberra is the capital of Australia; it was purpose-built as a compromise "
            "between Sydney and Melbourne.",
            "Sydney is Australia's largest city and home to the famous Opera House.",
            "Melbourne served as the seat of government until 1927.",
            "Wellington is the capital of New Zealand.",
            "Australia is both a country and a continent.",
        ],
    ),
    (
        "How does a computer store data in memory?",
        [
            "Computer memory stores data as bits: each RAM cell holds a 0 or a 1 as an "
            "electric charge or a transistor state, and groups of bits form bytes.",
            "A computer's processor executes instructions one clock cycle at a time.",
            "Human memory is often divided into short-term and long-term memory.",
            "Solid-state drives have no moving parts, unlike hard disk drives.",
            "The first electronic computers filled whole rooms.",
        ],
    ),
]
