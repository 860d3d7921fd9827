"""How good a network is: the held-out evaluation and the quality table, with the rules that pick `best` and `auto` from it."""
