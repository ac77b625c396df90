"""The participant's side: the flow, its pages and URLs, privacy, pilots, simulated participants."""
