"""Stage 2, writing conversations: prompts, the planner, endpoints and the embedded model, rate
limits, the engine and its events, and turning raw text into turns (transcript)."""
