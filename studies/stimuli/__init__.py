"""From images and networks to stimuli: eligibility, generation, registration, imports, storage."""
