"""Request and response models of the wire contract, apart from the code that serves them."""
