"""The functions of the built-in tool-use suite: compact JSON-schema tools, request templates and value pools.

Kept apart from the generator so that the data (what a user may ask) and the mechanics (how rows are drawn)
can be read and extended separately. A template names parameters as `{param}`; `fixed` arguments are implied
by the wording (a boolean flag, a mode). The last template of each function, and every template of a function
marked `heldout`, appear only in the held-out part of the test split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Pools: each entry is a value, or (value, (phrasings...)) when the request words it differently.
# fmt: off
POOLS: dict[str, tuple[Any, ...]] = {
    "city": (
        "Paris", "London", "Tokyo", "New York", "Berlin", "Madrid", "Rome", "Sydney", "Toronto", "Chicago",
        "Mumbai", "Cairo", "Lima", "Oslo", "Seoul", "Bangkok", "Lisbon", "Dublin", "Vienna", "Prague",
        "Nairobi", "Boston", "Denver", "Austin", "Seattle", "Singapore", "Istanbul", "Athens", "Warsaw",
        "Zurich", "Montreal", "Mexico City", "Buenos Aires", "Cape Town", "Helsinki", "Stockholm",
        "Amsterdam", "Brussels", "Osaka", "Hanoi",
    ),
    "country": (
        "France", "Japan", "Brazil", "Canada", "Kenya", "India", "Germany", "Italy", "Mexico", "Norway",
        "Egypt", "Peru", "Spain", "Chile", "Vietnam", "Greece", "Poland", "Portugal", "Australia",
        "Argentina", "Sweden", "Thailand", "Morocco", "Ireland", "Turkey",
    ),
    "first_name": (
        "Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Irene", "Jamal", "Kenji",
        "Laura", "Marco", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wei",
        "Yusuf", "Zoe",
    ),
    "email": (
        "anna@example.com", "ben.ross@mail.org", "carla@work.net", "d.kim@example.com", "elena.p@mail.org",
        "farid@work.net", "grace.lee@example.com", "hugo@mail.org", "irene.b@work.net", "jamal@example.com",
        "kenji.t@mail.org", "laura@work.net", "marco.v@example.com", "nadia@mail.org", "omar.s@work.net",
        "priya@example.com", "rosa.m@mail.org", "sam@work.net", "tara.j@example.com", "zoe@mail.org",
    ),
    "temp_unit": (("celsius", ("Celsius", "celsius")), ("fahrenheit", ("Fahrenheit", "fahrenheit"))),
    "currency": (
        ("USD", ("US dollars", "USD", "dollars")), ("EUR", ("euros", "EUR")),
        ("GBP", ("British pounds", "GBP", "pounds")), ("JPY", ("Japanese yen", "JPY", "yen")),
        ("CHF", ("Swiss francs", "CHF")), ("CAD", ("Canadian dollars", "CAD")),
        ("AUD", ("Australian dollars", "AUD")), ("INR", ("Indian rupees", "INR")),
        ("MXN", ("Mexican pesos", "MXN")), ("CNY", ("Chinese yuan", "CNY")),
    ),
    "ticker": (
        ("AAPL", ("AAPL", "Apple")), ("MSFT", ("MSFT", "Microsoft")), ("GOOGL", ("GOOGL", "Alphabet")),
        ("AMZN", ("AMZN", "Amazon")), ("TSLA", ("TSLA", "Tesla")), ("NVDA", ("NVDA", "Nvidia")),
        ("META", ("META",)), ("NFLX", ("NFLX", "Netflix")), ("IBM", ("IBM",)), ("INTC", ("INTC", "Intel")),
        ("ORCL", ("ORCL", "Oracle")), ("ADBE", ("ADBE", "Adobe")),
    ),
    "coin": ("bitcoin", "ethereum", "solana", "cardano", "dogecoin", "litecoin", "polkadot"),
    "length_unit": (
        ("meters", ("meters",)), ("kilometers", ("kilometers", "km")), ("miles", ("miles",)),
        ("feet", ("feet",)), ("inches", ("inches",)), ("centimeters", ("centimeters", "cm")),
        ("yards", ("yards",)),
    ),
    "distance_unit": (("km", ("kilometers", "km")), ("miles", ("miles",))),
    "statistic": (
        ("mean", ("mean", "average")), ("median", ("median",)), ("max", ("maximum", "largest value")),
        ("min", ("minimum", "smallest value")), ("sum", ("sum", "total")),
    ),
    "event_title": (
        "Team sync", "Budget review", "Dentist appointment", "Project kickoff", "Lunch with Sam",
        "Quarterly planning", "Design review", "Yoga class", "Parent meeting", "Book club", "Car service",
        "Coffee with Elena", "Sprint demo", "Guitar lesson",
    ),
    "chore": (
        "buy milk", "call the plumber", "renew my passport", "pay the rent", "water the plants",
        "book flights", "submit the report", "pick up the dry cleaning", "send the invoice", "feed the cat",
        "back up my laptop", "return the library books", "order a birthday cake", "cancel the gym membership",
    ),
    "priority": ("low", "medium", "high"),
    "car_type": (
        ("economy", ("an economy car",)), ("compact", ("a compact car",)), ("suv", ("an SUV",)),
        ("van", ("a van",)),
    ),
    "timer_label": ("pasta", "tea", "laundry", "break", "workout", "oven", "eggs"),
    "subject": (
        "Quarterly report", "Weekend plans", "Invoice 2291", "Meeting notes", "Trip itinerary",
        "Lunch on Friday", "Contract draft", "Team offsite", "Job application", "Rent receipt",
    ),
    "message": (
        "I'm running ten minutes late", "The meeting moved to Friday", "Can you send me the slides",
        "Happy birthday", "Dinner is at seven", "Don't forget the tickets", "I landed safely",
        "See you at the station", "The package arrived", "Call me when you are free",
    ),
    "product": (
        "wireless headphones", "running shoes", ("coffee grinder", ("a coffee grinder",)),
        ("desk lamp", ("a desk lamp",)), ("yoga mat", ("a yoga mat",)), ("backpack", ("a backpack",)),
        ("electric kettle", ("an electric kettle",)), ("phone charger", ("a phone charger",)),
        ("water bottle", ("a water bottle",)), ("board game", ("a board game",)),
        ("rain jacket", ("a rain jacket",)), ("mechanical keyboard", ("a mechanical keyboard",)),
        ("frying pan", ("a frying pan",)), ("bike helmet", ("a bike helmet",)),
    ),
    "sort_by": (
        ("price", ("sorted by price", "cheapest first")),
        ("rating", ("sorted by rating", "best rated first")),
        ("relevance", ("sorted by relevance", "most relevant first")),
    ),
    "tracking": (
        "1Z999AA10123456784", "1Z482BC20987654321", "TRK5503821", "TRK7719034", "JD0146002234",
        "JD0198815570", "LX229041187", "LX310557662", "PKG-88213", "PKG-40527",
    ),
    "order_id": (
        "ORD-10482", "ORD-22917", "ORD-35006", "ORD-41873", "ORD-58320", "ORD-60944", "ORD-77215",
        "ORD-89031",
    ),
    "cancel_reason": (
        "it arrived too late", "I ordered the wrong size", "I found it cheaper elsewhere",
        "I no longer need it", "it was ordered twice",
    ),
    "store": ("IKEA", "Walmart", "Target", "Costco", "Best Buy", "Zara", "Decathlon", "Home Depot"),
    "artist": (
        "Adele", "Coldplay", "Queen", "Shakira", "Drake", "Radiohead", "ABBA", "Miles Davis", "Taylor Swift",
        "Daft Punk", "Nina Simone", "Bob Marley", "Eminem", "Stevie Wonder",
    ),
    "movie_genre": (
        "action", "comedy", "drama", "horror", ("sci-fi", ("sci-fi", "science fiction")), "romance",
        "animation", "documentary",
    ),
    "movie": (
        "Inception", "The Matrix", "Casablanca", "Jaws", "Up", "Alien", "Amelie", "Heat", "Arrival",
        "Gravity", "Titanic", "Rocky", "Dune", "Coco",
    ),
    "book_genre": (
        "mystery", "fantasy", "biography", "history", "science fiction", "romance", "thriller", "poetry",
    ),
    "music_genre": (
        "jazz", "rock", "pop", "classical", "hip hop", "blues", "reggae", "country", "folk", "soul",
    ),
    "playlist_name": (
        "Morning Run", "Chill Sunday", "Road Trip", "Focus Mode", "Dinner Party", "Rainy Day", "Gym Hits",
        "Late Night",
    ),
    "podcast": (
        "The Daily", "Radiolab", "Planet Money", "Hidden Brain", "Serial", "Freakonomics Radio",
        "99% Invisible",
    ),
    "activity": ("running", "cycling", "swimming", "walking", "rowing", "hiking"),
    "specialty": ("dentist", "dermatologist", "pediatrician", "cardiologist", "optometrist"),
    "ingredient": (
        "chicken", "rice", "tomatoes", "spinach", "garlic", "lentils", "mushrooms", "tofu", "eggs",
        "potatoes", "salmon", "chickpeas", "basil", "onions", "peppers", "cheese", "beans", "broccoli",
    ),
    "cuisine": (
        "Italian", "Thai", "Mexican", "Indian", "Japanese", "Greek", "French", "Lebanese", "Korean",
        "Vietnamese", "Spanish", "Ethiopian",
    ),
    "price_level": (
        ("cheap", ("cheap", "budget")), ("moderate", ("mid-priced", "moderately priced")),
        ("expensive", ("fancy", "upscale")),
    ),
    "food": (
        ("avocado", ("an avocado",)), ("banana", ("a banana",)), "oatmeal", "almonds", "greek yogurt",
        "brown rice", ("boiled egg", ("a boiled egg",)), "salmon", "broccoli", "peanut butter",
        ("croissant", ("a croissant",)), "cheddar cheese",
    ),
    "restaurant": (
        "Luigi's Trattoria", "The Blue Door", "Sakura House", "El Farol", "Green Table", "Le Petit Bistro",
        "Spice Route", "Harbor Grill",
    ),
    "room": ("kitchen", "living room", "bedroom", "office", "bathroom", "hallway", "dining room"),
    "light_state": ("on", "off"),
    "door": ("front", "back", "garage"),
    "vacuum_mode": ("quick", "standard", "deep"),
    "team": (
        "Lakers", "Celtics", "Yankees", "Dodgers", "Arsenal", "Chelsea", "Liverpool", "Barcelona", "Juventus",
        "Bayern Munich", "Real Madrid", "Warriors",
    ),
    "league": (
        ("premier league", ("Premier League",)), ("la liga", ("La Liga",)), ("serie a", ("Serie A",)),
        ("bundesliga", ("Bundesliga",)), ("nba", ("NBA",)), ("nfl", ("NFL",)), ("mlb", ("MLB",)),
    ),
    "player": (
        "Lionel Messi", "LeBron James", "Serena Williams", "Shohei Ohtani", "Erling Haaland", "Stephen Curry",
        "Kylian Mbappe", "Naomi Osaka", "Connor McDavid", "Aaron Judge",
    ),
    "phrase": (
        "Good morning", "Where is the train station", "Thank you very much", "How much does this cost",
        "I would like a coffee", "See you tomorrow", "The bill, please", "Nice to meet you",
        "Where is the nearest pharmacy", "I am lost",
    ),
    "language": (
        "Spanish", "French", "German", "Italian", "Japanese", "Portuguese", "Chinese", "Korean", "Arabic",
        "Dutch", "English",
    ),
    "word": (
        "serendipity", "ephemeral", "ubiquitous", "meticulous", "resilient", "candid", "eloquent",
        "pragmatic", "nostalgia", "ambiguous", "benevolent", "diligent",
    ),
    "country_field": (
        ("capital", ("capital", "capital city")), ("population", ("population",)),
        ("currency", ("currency",)), ("language", ("official language",)),
    ),
    # Requests no catalogue function can serve: the slots of the chit-chat templates.
    "topic": (
        "the ocean", "autumn leaves", "coffee", "cats", "the moon", "trains", "robots", "friendship",
        "rainy days", "mountains", "bicycles", "pizza", "winter", "the city at night", "gardens", "dragons",
        "homework", "sunflowers",
    ),
    "advice": (
        "staying focused", "sleeping better", "learning to draw", "public speaking", "saving money",
        "writing a cover letter", "making new friends", "keeping a journal",
    ),
    "pet": ("new puppy", "goldfish", "kitten", "parrot", "hamster", "turtle"),
    "business": ("bakery", "bike shop", "bookstore", "dog grooming salon", "flower shop", "tea house"),
    "story": (
        "Cinderella", "Romeo and Juliet", "Hamlet", "Little Red Riding Hood", "The Odyssey", "Moby Dick",
    ),
    "hobby": ("knitting", "rock climbing", "gardening", "chess", "pottery", "birdwatching"),
    "relative": ("grandmother", "brother", "best friend", "boss", "aunt", "neighbor"),
}
# fmt: on


@dataclass(frozen=True)
class Param:
    """One argument. `pool` says how values are drawn: a POOLS key, `int:lo:hi` (`intw:` may be worded),
    `num:lo:hi:decimals`, `date` (YYYY-MM-DD), `time` (HH:MM) or `bool` (only set by templates)."""

    name: str
    type: str
    description: str
    pool: str
    required: bool = True
    enum: bool = False  # list the pool's values as the schema's enum
    default: Any = None
    item_type: str = "string"  # arrays: the type of the elements; the pool draws them
    unordered: bool = False  # arrays: any order of the elements is right


@dataclass(frozen=True)
class Template:
    text: str
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    domain: str
    description: str
    params: tuple[Param, ...]
    templates: tuple[Template, ...]
    heldout: bool = False  # never offered outside the held-out part of the test split

    def schema(self) -> dict[str, Any]:
        """The compact JSON-schema function doc shown to the model."""
        properties: dict[str, Any] = {}
        for p in self.params:
            prop: dict[str, Any] = {"type": p.type, "description": p.description}
            if p.enum:
                prop["enum"] = [pool_value(e) for e in POOLS[p.pool]]
            if p.type == "array":
                prop["items"] = {"type": p.item_type}
            properties[p.name] = prop
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": [p.name for p in self.params if p.required],
            },
        }


def pool_value(entry: Any) -> Any:
    return entry[0] if isinstance(entry, tuple) else entry


def pool_phrasings(entry: Any) -> tuple[str, ...]:
    return entry[1] if isinstance(entry, tuple) else (str(entry),)


def _t(text: str, **fixed: Any) -> Template:
    return Template(text, fixed)


def _p(name: str, type_: str, description: str, pool: str, **kw: Any) -> Param:
    return Param(name, type_, description, pool, **kw)


def _opt(name: str, type_: str, description: str, pool: str, **kw: Any) -> Param:
    return Param(name, type_, description, pool, required=False, **kw)


CITY = _p("city", "string", "City name", "city")
DATE_OPT = _opt("date", "string", "Date, YYYY-MM-DD", "date")

CATALOGUE: tuple[ToolSpec, ...] = (
    # weather
    ToolSpec(
        "get_current_weather",
        "weather",
        "Current weather in a city",
        (CITY, _opt("unit", "string", "Temperature unit", "temp_unit", enum=True, default="celsius")),
        (
            _t("What's the weather like in {city} right now?"),
            _t("Tell me the current temperature in {city} in {unit}."),
            _t("How warm is it in {city} at the moment?"),
            _t("Current conditions for {city}, please, in {unit}."),
        ),
    ),
    ToolSpec(
        "get_forecast",
        "weather",
        "Weather forecast for the coming days",
        (
            CITY,
            _p("days", "integer", "Number of days, 1-7", "intw:2:7"),
            _opt("include_hourly", "boolean", "Hourly detail", "bool", default=False),
        ),
        (
            _t("Give me the {days}-day forecast for {city}."),
            _t("What will the weather be in {city} over the next {days} days?"),
            _t("Show the hourly forecast for {city} for the next {days} days.", include_hourly=True),
            _t("I'm traveling to {city}; what's the forecast for {days} days?"),
        ),
    ),
    ToolSpec(
        "get_air_quality",
        "weather",
        "Air quality index of a city",
        (CITY,),
        (
            _t("How is the air quality in {city} today?"),
            _t("Check the pollution level in {city}."),
            _t("Is the air clean in {city} right now?"),
            _t("Air quality index for {city}?"),
        ),
    ),
    ToolSpec(
        "get_pollen_count",
        "weather",
        "Pollen level in a city",
        (CITY, DATE_OPT),
        (
            _t("What's the pollen count in {city}?"),
            _t("Will pollen be high in {city} on {date}?"),
            _t("My allergies are bad. Check pollen levels in {city} for {date}."),
        ),
        heldout=True,
    ),
    # travel
    ToolSpec(
        "search_flights",
        "travel",
        "Search flights",
        (
            _p("origin", "string", "Departure city", "city"),
            _p("destination", "string", "Arrival city", "city"),
            _p("date", "string", "Departure date, YYYY-MM-DD", "date"),
            _opt("passengers", "integer", "Number of travelers", "intw:2:6", default=1),
        ),
        (
            _t("Find flights from {origin} to {destination} on {date}."),
            _t("I need a flight from {origin} to {destination} on {date} for {passengers} people."),
            _t("Search for flights to {destination} from {origin}, departing {date}."),
            _t("Are there any flights {origin} to {destination} on {date}? We are {passengers} travelers."),
        ),
    ),
    ToolSpec(
        "book_hotel",
        "travel",
        "Book a hotel room",
        (
            CITY,
            _p("check_in", "string", "Check-in date, YYYY-MM-DD", "date"),
            _p("nights", "integer", "Number of nights", "intw:2:14"),
            _opt("guests", "integer", "Number of guests", "intw:2:4", default=1),
        ),
        (
            _t("Book a hotel in {city} from {check_in} for {nights} nights."),
            _t("Reserve a room in {city} for {guests} guests, checking in {check_in}, staying {nights} nights."),
            _t("I need a hotel in {city}: check-in {check_in}, {nights} nights."),
            _t("Get me accommodation in {city} starting {check_in} for {nights} nights for {guests} guests."),
        ),
    ),
    ToolSpec(
        "get_train_times",
        "travel",
        "Train departures between two cities",
        (
            _p("origin", "string", "Departure city", "city"),
            _p("destination", "string", "Arrival city", "city"),
            DATE_OPT,
        ),
        (
            _t("When are the trains from {origin} to {destination}?"),
            _t("Show me train departures from {origin} to {destination} on {date}."),
            _t("Train schedule {origin} to {destination}, please."),
            _t("Which trains go from {origin} to {destination} on {date}?"),
        ),
    ),
    ToolSpec(
        "rent_car",
        "travel",
        "Rent a car",
        (
            CITY,
            _p("pickup_date", "string", "Pick-up date, YYYY-MM-DD", "date"),
            _p("days", "integer", "Rental days", "intw:2:14"),
            _opt("car_type", "string", "Car class", "car_type", enum=True),
        ),
        (
            _t("Rent a car in {city} from {pickup_date} for {days} days."),
            _t("I need {car_type} in {city} from {pickup_date} for {days} days."),
            _t("Reserve a rental car in {city} for {days} days starting {pickup_date}."),
            _t("Can I get {car_type} in {city}? Pick-up {pickup_date}, {days} days."),
        ),
    ),
    ToolSpec(
        "get_visa_requirements",
        "travel",
        "Visa rules for a trip",
        (
            _p("citizenship", "string", "Traveler's country", "country"),
            _p("destination", "string", "Country to visit", "country"),
        ),
        (
            _t("Do I need a visa to visit {destination} as a citizen of {citizenship}?"),
            _t("Visa rules for {citizenship} passport holders traveling to {destination}?"),
            _t("I'm from {citizenship}. What are the entry requirements for {destination}?"),
        ),
        heldout=True,
    ),
    # finance
    ToolSpec(
        "get_stock_price",
        "finance",
        "Latest stock price",
        (_p("ticker", "string", "Stock ticker symbol", "ticker"),),
        (
            _t("What's the current price of {ticker} stock?"),
            _t("How much is one share of {ticker} trading at?"),
            _t("Get me the latest quote for {ticker}."),
            _t("Check {ticker}'s share price."),
        ),
    ),
    ToolSpec(
        "convert_currency",
        "finance",
        "Convert money between currencies",
        (
            _p("amount", "number", "Amount to convert", "num:5:2000:0"),
            _p("from_currency", "string", "Source currency code", "currency", enum=True),
            _p("to_currency", "string", "Target currency code", "currency", enum=True),
        ),
        (
            _t("Convert {amount} {from_currency} to {to_currency}."),
            _t("How much is {amount} {from_currency} in {to_currency}?"),
            _t("I have {amount} {from_currency}. What is that in {to_currency}?"),
            _t("Exchange {amount} {from_currency} into {to_currency} for me."),
        ),
    ),
    ToolSpec(
        "calculate_loan_payment",
        "finance",
        "Monthly payment of a loan",
        (
            _p("principal", "number", "Loan amount", "num:1000:500000:0"),
            _p("annual_rate", "number", "Yearly interest rate in percent", "num:1:12:1"),
            _p("years", "integer", "Loan term in years", "int:2:30"),
        ),
        (
            _t("What's the monthly payment on a {principal} loan at {annual_rate}% for {years} years?"),
            _t("Calculate the payment for borrowing {principal} over {years} years at {annual_rate} percent."),
            _t("I want a {years}-year loan of {principal} at {annual_rate}% interest. Monthly payment?"),
            _t("Mortgage of {principal}, {annual_rate}% APR, {years} years: how much per month?"),
        ),
    ),
    ToolSpec(
        "get_crypto_price",
        "finance",
        "Price of a cryptocurrency",
        (
            _p("coin", "string", "Coin name", "coin"),
            _opt("currency", "string", "Quote currency code", "currency", enum=True, default="USD"),
        ),
        (
            _t("What's the price of {coin} right now?"),
            _t("How much is {coin} worth in {currency}?"),
            _t("Give me the current {coin} price."),
            _t("Quote {coin} in {currency}, please."),
        ),
    ),
    # In `math`, not `finance`: calculate_percentage can also serve it, so it must never be an irrelevance case.
    ToolSpec(
        "calculate_tip",
        "math",
        "Tip and share of a bill",
        (
            _p("bill_amount", "number", "Bill total", "num:10:300:2"),
            _p("tip_percent", "integer", "Tip in percent", "int:10:25"),
            _opt("people", "integer", "People splitting the bill", "intw:2:6", default=1),
        ),
        (
            _t("What's a {tip_percent}% tip on a bill of {bill_amount}?"),
            _t("Our dinner cost {bill_amount}. Split it {people} ways with a {tip_percent}% tip."),
            _t("Work out the tip for {bill_amount} at {tip_percent} percent."),
        ),
        heldout=True,
    ),
    # math
    ToolSpec(
        "calculate_percentage",
        "math",
        "A percentage of a value",
        (
            _p("percent", "number", "The percentage", "num:1:99:0"),
            _p("value", "number", "The whole value", "num:10:5000:0"),
        ),
        (
            _t("What is {percent}% of {value}?"),
            _t("Calculate {percent} percent of {value}."),
            _t("Find {percent}% of {value} for me."),
            _t("How much is {percent} per cent of {value}?"),
        ),
    ),
    ToolSpec(
        "solve_quadratic",
        "math",
        "Roots of a*x^2 + b*x + c = 0",
        (
            _p("a", "number", "x^2 coefficient", "int:1:9"),
            _p("b", "number", "x coefficient", "int:-20:20"),
            _p("c", "number", "Constant term", "int:-20:20"),
        ),
        (
            _t("Solve the quadratic equation with coefficients a={a}, b={b} and c={c}."),
            _t("Find the roots of {a}x^2 + ({b})x + ({c}) = 0."),
            _t("Roots of a quadratic where a is {a}, b is {b}, c is {c}?"),
            _t("Compute the solutions of a*x^2+b*x+c=0 for a={a}, b={b}, c={c}."),
        ),
    ),
    ToolSpec(
        "convert_length",
        "math",
        "Convert a length between units",
        (
            _p("value", "number", "Length to convert", "num:1:1000:1"),
            _p("from_unit", "string", "Unit of the value", "length_unit", enum=True),
            _p("to_unit", "string", "Target unit", "length_unit", enum=True),
        ),
        (
            _t("Convert {value} {from_unit} to {to_unit}."),
            _t("How many {to_unit} are in {value} {from_unit}?"),
            _t("What is {value} {from_unit} in {to_unit}?"),
            _t("Express {value} {from_unit} in {to_unit}."),
        ),
    ),
    ToolSpec(
        "compute_statistic",
        "math",
        "A summary statistic of numbers",
        (
            _p("numbers", "array", "The numbers", "int:1:100", item_type="number"),
            _p("measure", "string", "Which statistic", "statistic", enum=True),
        ),
        (
            _t("What is the {measure} of {numbers}?"),
            _t("Compute the {measure} of these numbers: {numbers}."),
            _t("Give me the {measure} for the values {numbers}."),
            _t("I have the data {numbers}. Find its {measure}."),
        ),
    ),
    ToolSpec(
        "gcd",
        "math",
        "Greatest common divisor of two integers",
        (_p("a", "integer", "First integer", "int:2:500"), _p("b", "integer", "Second integer", "int:2:500")),
        (
            _t("What is the greatest common divisor of {a} and {b}?"),
            _t("Find the GCD of {a} and {b}."),
            _t("Compute gcd({a}, {b})."),
            _t("Largest number that divides both {a} and {b}?"),
        ),
    ),
    ToolSpec(
        "is_prime",
        "math",
        "Whether an integer is prime",
        (_p("number", "integer", "Integer to test", "int:2:10000"),),
        (
            _t("Is {number} a prime number?"),
            _t("Check whether {number} is prime."),
            _t("Tell me if {number} is prime or not."),
            _t("Primality test for {number}, please."),
        ),
    ),
    ToolSpec(
        "circle_area",
        "math",
        "Area of a circle",
        (_p("radius", "number", "Radius", "num:1:100:1"), _opt("unit", "string", "Length unit", "length_unit")),
        (
            _t("What's the area of a circle with radius {radius}?"),
            _t("Compute the area of a circle whose radius is {radius} {unit}."),
            _t("Area of a circle, r = {radius}?"),
        ),
        heldout=True,
    ),
    # productivity
    ToolSpec(
        "create_calendar_event",
        "productivity",
        "Add an event to the calendar",
        (
            _p("title", "string", "Event title", "event_title"),
            _p("date", "string", "Date, YYYY-MM-DD", "date"),
            _p("time", "string", "Start time, HH:MM", "time"),
            _opt("duration_minutes", "integer", "Length in minutes", "int:15:120", default=60),
        ),
        (
            _t("Add '{title}' to my calendar on {date} at {time}."),
            _t("Schedule {title} for {date} at {time}, lasting {duration_minutes} minutes."),
            _t("Put an event called {title} on {date} at {time}."),
            _t("Create a calendar entry '{title}' at {time} on {date} for {duration_minutes} minutes."),
        ),
    ),
    ToolSpec(
        "set_reminder",
        "productivity",
        "Set a reminder",
        (
            _p("text", "string", "What to remember", "chore"),
            _p("date", "string", "Date, YYYY-MM-DD", "date"),
            _opt("time", "string", "Time, HH:MM", "time"),
        ),
        (
            _t("Remind me to {text} on {date}."),
            _t("Set a reminder to {text} on {date} at {time}."),
            _t("Don't let me forget to {text} on {date}."),
            _t("On {date} at {time}, remind me: {text}."),
        ),
    ),
    ToolSpec(
        "add_todo",
        "productivity",
        "Add a task to the to-do list",
        (
            _p("task", "string", "The task", "chore"),
            _opt("priority", "string", "Task priority", "priority", enum=True, default="medium"),
        ),
        (
            _t("Add '{task}' to my to-do list."),
            _t("Put {task} on my task list with {priority} priority."),
            _t("New to-do: {task}."),
            _t("Please track this task for me: {task}, priority {priority}."),
        ),
    ),
    ToolSpec(
        "list_events",
        "productivity",
        "Calendar events on a day",
        (_p("date", "string", "Date, YYYY-MM-DD", "date"),),
        (
            _t("What's on my calendar for {date}?"),
            _t("Show my events on {date}."),
            _t("Do I have any meetings on {date}?"),
            _t("List everything scheduled on {date}."),
        ),
    ),
    ToolSpec(
        "set_timer",
        "productivity",
        "Start a countdown timer",
        (
            _p("minutes", "integer", "Duration in minutes", "intw:2:90"),
            _opt("label", "string", "Timer name", "timer_label"),
        ),
        (
            _t("Set a timer for {minutes} minutes."),
            _t("Start a {minutes}-minute timer called {label}."),
            _t("Timer: {minutes} minutes for the {label}, please."),
        ),
        heldout=True,
    ),
    # communication
    ToolSpec(
        "send_email",
        "communication",
        "Send an email",
        (
            _p("to", "string", "Recipient address", "email"),
            _p("subject", "string", "Subject line", "subject"),
            _opt("body", "string", "Message text", "message"),
        ),
        (
            _t("Send an email to {to} with the subject '{subject}'."),
            _t("Email {to} about '{subject}' and say: {body}."),
            _t("Write to {to}, subject '{subject}', message: {body}."),
            _t("Shoot {to} a quick email titled '{subject}'."),
        ),
    ),
    ToolSpec(
        "send_text_message",
        "communication",
        "Send an SMS to a contact",
        (_p("recipient", "string", "Contact name", "first_name"), _p("message", "string", "Text", "message")),
        (
            _t("Text {recipient}: {message}."),
            _t("Send a message to {recipient} saying '{message}'."),
            _t("Tell {recipient} via text: '{message}'."),
            _t("SMS {recipient} the words '{message}'."),
        ),
    ),
    ToolSpec(
        "make_phone_call",
        "communication",
        "Call a contact",
        (
            _p("contact", "string", "Contact name", "first_name"),
            _opt("speakerphone", "boolean", "Use the speaker", "bool", default=False),
        ),
        (
            _t("Call {contact}."),
            _t("Phone {contact} for me, please."),
            _t("Call {contact} on speakerphone.", speakerphone=True),
            _t("Dial {contact}'s number."),
        ),
    ),
    ToolSpec(
        "share_location",
        "communication",
        "Share live location with a contact",
        (
            _p("contact", "string", "Contact name", "first_name"),
            _opt("duration_minutes", "integer", "How long to share", "int:15:120"),
        ),
        (
            _t("Share my location with {contact}."),
            _t("Send {contact} my live location for {duration_minutes} minutes."),
            _t("Let {contact} see where I am for the next {duration_minutes} minutes."),
        ),
        heldout=True,
    ),
    # shopping
    ToolSpec(
        "search_products",
        "shopping",
        "Search the online store",
        (
            _p("query", "string", "What to look for", "product"),
            _opt("max_price", "number", "Highest price", "num:10:500:0"),
            _opt("sort_by", "string", "Result order", "sort_by", enum=True, default="relevance"),
        ),
        (
            _t("Search for {query}."),
            _t("Find {query} under {max_price} dollars."),
            _t("Show me {query}, {sort_by}."),
            _t("Look up {query} that cost less than {max_price}, {sort_by}."),
        ),
    ),
    ToolSpec(
        "track_package",
        "shopping",
        "Delivery status of a package",
        (_p("tracking_number", "string", "Tracking number", "tracking"),),
        (
            _t("Where is my package {tracking_number}?"),
            _t("Track shipment {tracking_number}."),
            _t("What's the delivery status of {tracking_number}?"),
            _t("Any update on parcel {tracking_number}?"),
        ),
    ),
    ToolSpec(
        "add_to_cart",
        "shopping",
        "Add a product to the cart",
        (_p("product", "string", "Product name", "product"), _p("quantity", "integer", "How many", "intw:1:5")),
        (
            _t("Add {product} to my cart, quantity {quantity}."),
            _t("Put {product} in my shopping cart, {quantity} of them."),
            _t("I'd like to buy {product}; add {quantity} to the cart."),
            _t("Cart: {product} x{quantity}."),
        ),
    ),
    ToolSpec(
        "cancel_order",
        "shopping",
        "Cancel an order",
        (_p("order_id", "string", "Order number", "order_id"), _opt("reason", "string", "Why", "cancel_reason")),
        (
            _t("Cancel order {order_id}."),
            _t("Please cancel my order {order_id} because {reason}."),
            _t("I want to cancel {order_id}; reason: {reason}."),
            _t("Stop order {order_id} from shipping."),
        ),
    ),
    ToolSpec(
        "check_store_hours",
        "shopping",
        "Opening hours of a store",
        (_p("store", "string", "Store name", "store"), CITY),
        (
            _t("When does {store} in {city} open?"),
            _t("What are the opening hours of the {store} store in {city}?"),
            _t("Is {store} in {city} open late today?"),
        ),
        heldout=True,
    ),
    # entertainment
    ToolSpec(
        "play_music",
        "entertainment",
        "Play songs by an artist",
        (
            _p("artist", "string", "Artist name", "artist"),
            _opt("shuffle", "boolean", "Shuffle order", "bool", default=False),
        ),
        (
            _t("Play some {artist}."),
            _t("Put on music by {artist}."),
            _t("Shuffle songs by {artist}.", shuffle=True),
            _t("I want to hear {artist} right now."),
        ),
    ),
    ToolSpec(
        "search_movies",
        "entertainment",
        "Find movies by genre",
        (
            _p("genre", "string", "Movie genre", "movie_genre", enum=True),
            _opt("year", "integer", "Release year", "int:1970:2024"),
        ),
        (
            _t("Find some {genre} movies."),
            _t("Recommend {genre} films from {year}."),
            _t("Which {genre} movies came out in {year}?"),
            _t("Suggest a good {genre} movie released in {year}."),
        ),
    ),
    ToolSpec(
        "get_movie_showtimes",
        "entertainment",
        "Cinema showtimes of a movie",
        (_p("movie", "string", "Movie title", "movie"), CITY, DATE_OPT),
        (
            _t("When is {movie} playing in {city}?"),
            _t("Showtimes for {movie} in {city} on {date}."),
            _t("Where can I watch {movie} in {city} on {date}?"),
            _t("Is {movie} showing anywhere in {city}?"),
        ),
    ),
    ToolSpec(
        "recommend_books",
        "entertainment",
        "Book recommendations",
        (
            _p("genre", "string", "Book genre", "book_genre"),
            _opt("count", "integer", "How many books", "intw:2:10", default=5),
        ),
        (
            _t("Recommend some {genre} books."),
            _t("Suggest {count} {genre} books to read."),
            _t("What are good {genre} novels? Give me {count}."),
            _t("I need {count} book ideas in {genre}."),
        ),
    ),
    ToolSpec(
        "create_playlist",
        "entertainment",
        "Create a music playlist",
        (
            _p("name", "string", "Playlist name", "playlist_name"),
            _p("genres", "array", "Music genres", "music_genre", unordered=True),
        ),
        (
            _t("Create a playlist called '{name}' with {genres}."),
            _t("Make a new playlist named {name} mixing {genres}."),
            _t("Build a '{name}' playlist of {genres} songs."),
            _t("New playlist '{name}': {genres}."),
        ),
    ),
    ToolSpec(
        "get_podcast_episodes",
        "entertainment",
        "Recent episodes of a podcast",
        (
            _p("podcast", "string", "Podcast name", "podcast"),
            _opt("count", "integer", "How many episodes", "intw:2:10", default=5),
        ),
        (
            _t("Show the latest episodes of {podcast}."),
            _t("List the {count} newest {podcast} episodes."),
            _t("What are the recent episodes of the podcast {podcast}?"),
        ),
        heldout=True,
    ),
    # health
    ToolSpec(
        "calculate_bmi",
        "health",
        "Body mass index",
        (
            _p("weight_kg", "number", "Weight in kg", "num:40:150:0"),
            _p("height_cm", "number", "Height in cm", "num:140:210:0"),
        ),
        (
            _t("Calculate my BMI: I weigh {weight_kg} kg and I'm {height_cm} cm tall."),
            _t("What's the BMI for someone {height_cm} cm tall weighing {weight_kg} kg?"),
            _t("My height is {height_cm} cm and weight {weight_kg} kg. BMI?"),
            _t("BMI please, {weight_kg} kilograms, {height_cm} centimeters."),
        ),
    ),
    ToolSpec(
        "log_workout",
        "health",
        "Record a workout",
        (
            _p("activity", "string", "Exercise type", "activity", enum=True),
            _p("duration_minutes", "integer", "Length in minutes", "int:10:180"),
            DATE_OPT,
        ),
        (
            _t("Log a {duration_minutes}-minute {activity} workout."),
            _t("I did {activity} for {duration_minutes} minutes on {date}; record it."),
            _t("Record {duration_minutes} minutes of {activity}."),
            _t("Add to my fitness log: {activity}, {duration_minutes} min, {date}."),
        ),
    ),
    ToolSpec(
        "calories_burned",
        "health",
        "Calories burned by exercise",
        (
            _p("activity", "string", "Exercise type", "activity", enum=True),
            _p("duration_minutes", "integer", "Length in minutes", "int:10:180"),
            _opt("weight_kg", "number", "Body weight in kg", "num:40:150:0"),
        ),
        (
            _t("How many calories do I burn {activity} for {duration_minutes} minutes?"),
            _t("Estimate calories burned by {duration_minutes} minutes of {activity} for a {weight_kg} kg person."),
            _t("Calories for {activity}, {duration_minutes} minutes?"),
            _t("If I weigh {weight_kg} kg and go {activity} for {duration_minutes} minutes, how many calories?"),
        ),
    ),
    ToolSpec(
        "find_doctor",
        "health",
        "Find a doctor nearby",
        (_p("specialty", "string", "Medical specialty", "specialty", enum=True), CITY),
        (
            _t("Find a {specialty} in {city}."),
            _t("I need a {specialty} near {city}."),
            _t("Search for a {specialty} in {city}, please."),
            _t("Who is a good {specialty} in {city}?"),
        ),
    ),
    # food
    ToolSpec(
        "find_recipes",
        "food",
        "Recipes from ingredients",
        (
            _p("ingredients", "array", "Ingredients at hand", "ingredient", unordered=True),
            _opt("max_minutes", "integer", "Longest cooking time", "int:15:90"),
        ),
        (
            _t("Find recipes with {ingredients}."),
            _t("What can I cook with {ingredients} in under {max_minutes} minutes?"),
            _t("Give me a recipe using {ingredients}."),
            _t("Dinner ideas from {ingredients}, ready in {max_minutes} minutes?"),
        ),
    ),
    ToolSpec(
        "find_restaurants",
        "food",
        "Restaurants in a city",
        (
            CITY,
            _p("cuisine", "string", "Type of food", "cuisine"),
            _opt("price_level", "string", "Price range", "price_level", enum=True),
        ),
        (
            _t("Find {cuisine} restaurants in {city}."),
            _t("Where can I get {price_level} {cuisine} food in {city}?"),
            _t("Recommend a {cuisine} place in {city}."),
            _t("Looking for a {price_level} {cuisine} restaurant in {city}."),
        ),
    ),
    ToolSpec(
        "get_nutrition_facts",
        "food",
        "Nutrition facts of a food",
        (_p("food", "string", "Food name", "food"), _opt("grams", "integer", "Portion in grams", "int:50:500")),
        (
            _t("How many calories are in {food}?"),
            _t("Nutrition facts for {grams} grams of {food}."),
            _t("What nutrients does {food} have per {grams} g?"),
            _t("Tell me the protein and fat in {food}."),
        ),
    ),
    ToolSpec(
        "book_table",
        "food",
        "Reserve a restaurant table",
        (
            _p("restaurant", "string", "Restaurant name", "restaurant"),
            _p("party_size", "integer", "Number of people", "intw:2:8"),
            _p("time", "string", "Time, HH:MM", "time"),
        ),
        (
            _t("Book a table for {party_size} at {restaurant} at {time}."),
            _t("Reserve {restaurant} for {party_size} people at {time}."),
            _t("Can you get us a table at {restaurant}, {party_size} guests, {time}?"),
        ),
        heldout=True,
    ),
    # smart home
    ToolSpec(
        "set_thermostat",
        "smart_home",
        "Set the target temperature",
        (_p("temperature", "number", "Degrees", "int:16:28"), _opt("room", "string", "Room", "room")),
        (
            _t("Set the thermostat to {temperature} degrees."),
            _t("Make the {room} {temperature} degrees."),
            _t("Change the temperature in the {room} to {temperature}."),
            _t("Heat the {room} up to {temperature} degrees."),
        ),
    ),
    ToolSpec(
        "control_lights",
        "smart_home",
        "Switch or dim the lights",
        (
            _p("room", "string", "Room", "room"),
            _p("state", "string", "On or off", "light_state", enum=True),
            _opt("brightness", "integer", "Brightness in percent", "int:10:90"),
        ),
        (
            _t("Turn {state} the lights in the {room}."),
            _t("Switch the {room} lights {state}."),
            _t("Dim the {room} lights to {brightness} percent.", state="on"),
            _t("Lights {state} in the {room}, please."),
        ),
    ),
    ToolSpec(
        "lock_door",
        "smart_home",
        "Lock a door",
        (_p("door", "string", "Which door", "door", enum=True),),
        (
            _t("Lock the {door} door."),
            _t("Make sure the {door} door is locked."),
            _t("Can you lock the {door} door for me?"),
            _t("Secure the {door} door."),
        ),
    ),
    ToolSpec(
        "start_vacuum",
        "smart_home",
        "Start the robot vacuum",
        (
            _opt("room", "string", "Room to clean", "room"),
            _opt("mode", "string", "Cleaning mode", "vacuum_mode", enum=True, default="standard"),
        ),
        (
            _t("Vacuum the {room}."),
            _t("Run a {mode} clean in the {room}."),
            _t("Start the robot vacuum in {mode} mode."),
            _t("Clean the {room} floor with the vacuum, {mode} mode."),
        ),
    ),
    # sports
    ToolSpec(
        "get_match_score",
        "sports",
        "Score of a team's match",
        (_p("team", "string", "Team name", "team"), DATE_OPT),
        (
            _t("What was the score of the {team} game?"),
            _t("How did {team} do on {date}?"),
            _t("Final score for the {team} match on {date}?"),
            _t("Did {team} win their last game?"),
        ),
    ),
    ToolSpec(
        "get_league_standings",
        "sports",
        "League table",
        (_p("league", "string", "League", "league", enum=True),),
        (
            _t("Show me the {league} standings."),
            _t("Who is top of the {league} table?"),
            _t("Current {league} rankings, please."),
            _t("How does the {league} table look right now?"),
        ),
    ),
    ToolSpec(
        "get_player_stats",
        "sports",
        "A player's statistics",
        (_p("player", "string", "Player name", "player"), _opt("season", "integer", "Season year", "int:2015:2024")),
        (
            _t("Get {player}'s stats."),
            _t("What were {player}'s numbers in the {season} season?"),
            _t("Show statistics for {player} from {season}."),
            _t("How did {player} perform in {season}?"),
        ),
    ),
    # knowledge
    ToolSpec(
        "translate_text",
        "knowledge",
        "Translate text",
        (
            _p("text", "string", "Text to translate", "phrase"),
            _p("target_language", "string", "Language to translate into", "language"),
            _opt("source_language", "string", "Language of the text", "language"),
        ),
        (
            _t("Translate '{text}' into {target_language}."),
            _t("How do you say '{text}' in {target_language}?"),
            _t("Translate '{text}' from {source_language} to {target_language}."),
            _t("What is '{text}' in {target_language}?"),
        ),
    ),
    ToolSpec(
        "define_word",
        "knowledge",
        "Dictionary definition of a word",
        (_p("word", "string", "The word", "word"),),
        (
            _t("What does '{word}' mean?"),
            _t("Define the word {word}."),
            _t("Give me the definition of '{word}'."),
            _t("Meaning of {word}?"),
        ),
    ),
    ToolSpec(
        "get_country_info",
        "knowledge",
        "Facts about a country",
        (
            _p("country", "string", "Country name", "country"),
            _p("field", "string", "Which fact", "country_field", enum=True),
        ),
        (
            _t("What is the {field} of {country}?"),
            _t("Tell me the {field} of {country}."),
            _t("Look up {country}'s {field}."),
            _t("{country}: what's its {field}?"),
        ),
    ),
    ToolSpec(
        "get_time_zone",
        "knowledge",
        "Time zone of a city",
        (CITY,),
        (
            _t("What time zone is {city} in?"),
            _t("Which time zone does {city} use?"),
            _t("Tell me the time zone of {city}."),
            _t("Time zone for {city}?"),
        ),
    ),
    ToolSpec(
        "get_distance",
        "knowledge",
        "Distance between two cities",
        (
            _p("city_a", "string", "First city", "city"),
            _p("city_b", "string", "Second city", "city"),
            _opt("unit", "string", "Distance unit", "distance_unit", enum=True, default="km"),
        ),
        (
            _t("How far is {city_a} from {city_b}?"),
            _t("What's the distance between {city_a} and {city_b} in {unit}?"),
            _t("Distance from {city_a} to {city_b}, in {unit}."),
        ),
        heldout=True,
    ),
)

# Requests that no function serves: the right answer is plain text. The last two are held out.
CHITCHAT: tuple[str, ...] = (
    "Write a short poem about {topic}.",
    "Tell me a joke about {topic}.",
    "Give me three tips for {advice}.",
    "Suggest a name for my {pet}.",
    "Write a slogan for a {business}.",
    "Summarize the story of {story} in one sentence.",
    "Compose a limerick about {topic}.",
    "What's a good way to get started with {hobby}?",
    "Help me write a birthday card for my {relative}.",
)
CHITCHAT_HELDOUT = 3  # how many templates at the end of CHITCHAT are held out

# Plain-text answers to the chit-chat requests, one tuple per CHITCHAT template (same slots; `{name}` and
# `{summary}` are filled from the tables below). No function fits these requests, but the request itself is
# fine: the system prompt says to answer in plain text, and a model trained to refuse them learns to refuse
# ordinary writing requests too, which cost the demo's fine-tunes most of their instruction following.
CHITCHAT_REPLIES: dict[str, tuple[str, ...]] = {
    CHITCHAT[0]: (
        "Here is a short poem about {topic}:\n\nQuiet and near, you color the day,\nyou ask for nothing "
        "and still find a way;\nI think of {topic} when the hours run long,\nand the thought of it turns "
        "into a song.",
        "A short poem about {topic}:\n\nI looked for words and found {topic} there,\nsimple and bright "
        "as the morning air;\nsome things are small, yet they fill the heart,\nand this is where my "
        "verses start.",
    ),
    CHITCHAT[1]: (
        "Here is one: I tried to tell a joke about {topic}, but it went over everyone's head. I'll try a "
        "lower one next time!",
        "A joke about {topic}: why did {topic} sit in the front row? It heard the show would be outstanding.",
    ),
    CHITCHAT[2]: (
        "Three tips for {advice}:\n1. Start small: pick one thing to change this week.\n2. Make it a "
        "habit: do a little every day at the same time.\n3. Check your progress weekly and adjust what "
        "does not work.",
        "Here are three tips for {advice}:\n1. Set one clear, concrete goal.\n2. Remove the "
        "distractions that get in the way.\n3. Ask a friend to keep you accountable.",
    ),
    CHITCHAT[3]: (
        "How about {name}? It is short, friendly and easy to call. Other ideas: {name2} or {name3}.",
        "I would call your {pet} {name}. If that does not fit, try {name2} or {name3}.",
    ),
    CHITCHAT[4]: (
        'Slogan for a {business}: "Made with care, shared with a smile."',
        'How about: "Your neighborhood {business}: come as a guest, leave as a friend."',
    ),
    CHITCHAT[5]: ("{summary}",),
    CHITCHAT[6]: (
        "A limerick about {topic}:\n\nThere once was a fan of {topic}\nwho talked of it all through "
        "the night;\nthe neighbors complained,\nbut the fan just explained:\n\"it's a topic that "
        'always feels right."',
    ),
    CHITCHAT[7]: (
        "Start with {hobby} in small steps: find a beginner's guide or a class, get only the basic "
        "equipment, and set aside a little time each week. A local club or online group helps you learn "
        "faster and stay motivated.",
    ),
    CHITCHAT[8]: (
        "Happy birthday! Thank you for being such a wonderful {relative}. I hope your day is full of "
        "laughter and the year ahead brings you everything you wish for. With love, [your name]",
    ),
}
PET_NAMES: tuple[str, ...] = ("Biscuit", "Luna", "Pepper", "Milo", "Coco", "Ziggy", "Olive", "Sunny")
STORY_SUMMARIES: dict[str, str] = {
    "Cinderella": "A kind young woman mistreated by her stepfamily goes to the royal ball with her fairy "
    "godmother's help, loses a glass slipper at midnight, and is found and married by the prince.",
    "Romeo and Juliet": "Two young lovers from feuding families in Verona marry in secret, and a chain of "
    "misunderstandings ends in both of their deaths and their families' reconciliation.",
    "Hamlet": "Prince Hamlet of Denmark sets out to avenge his father, murdered by his uncle Claudius for the "
    "throne, and his revenge ends with almost everyone at court dead, himself included.",
    "Little Red Riding Hood": "A girl bringing food to her grandmother is tricked by a wolf who eats the "
    "grandmother and waits in her bed, until a passing woodsman rescues them both.",
    "The Odyssey": "After the Trojan War, Odysseus spends ten years finding his way home to Ithaca past "
    "monsters and angry gods, then drives out the suitors who have taken over his house.",
    "Moby Dick": "Captain Ahab drives the whaling ship Pequod on an obsessive hunt for the white whale Moby "
    "Dick, which destroys the ship and its crew, leaving only the narrator Ishmael alive.",
}

REFUSALS: tuple[str, ...] = (
    "None of the available functions can help with that.",
    "I can't do that with the tools I have.",
    "Sorry, none of my tools fit this request.",
    "No available function handles this request.",
    "That request is outside what my functions can do.",
)
