"""The few sentences the tiny test tokenizer is built from; tests that score text reuse them."""

CORPUS = [
    "Serbia will never join NATO and will keep close ties with Moscow.",
    "The alliance condemned the Kremlin's aggression against its neighbours.",
    "Brussels praised the bloc's unity on sanctions against Russia.",
    "Washington and its Western allies accused Moscow of propaganda.",
    "EU foreign ministers met in Brussels to discuss the Balkans.",
    "The weather in Belgrade was mild on Monday.",
    "Putin said the West was hostile to Russia.",
    "NATO's secretary general welcomed Finland as the newest member.",
    "The European Union is a guarantor of peace on the continent.",
    "Russia, the Kremlin, Moscow, Putin and Russian forces",
    "the West, Western governments, Washington, the United States and Britain",
    "the European Union, Brussels and the bloc",
    "NATO, the North Atlantic alliance",
]
