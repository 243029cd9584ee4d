"""Language-model backends (Ollama over HTTP; llama.cpp in process) and the prompt files."""
