"""Before real money: the live start-up checks and the live start that runs only after them."""
