"""What both the CLI (`bot.cli`) and the server (`bot.serve`) call: bring the index up to date
(`index`), curate and synthesize the training set (`datasets`), train (`training`) and count
(`stats`). Nothing here imports `bot.cli`."""
