"""A real transformer on the Markov-CoT chain of Spec 2, trained through TRL (issue 23)."""
