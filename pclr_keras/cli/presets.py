"""`pclr presets`: the named weights, or everything about one of them."""


def add_arguments(commands):
    """`pclr presets` and its argument."""
    presets = commands.add_parser(
        "presets", help="list the named weights (load_encoder(NAME), --model NAME)")
    presets.add_argument("name", nargs="?", help="show everything about one preset")
    presets.set_defaults(run=run)


def run(args):
    from pclr_keras.weights.presets import preset_table
    from pclr_keras.weights.resolve import describe_preset

    if args.name:
        try:
            print(describe_preset(args.name))
        except KeyError as error:
            raise SystemExit(f"pclr presets: {error.args[0]}") from None
        return
    print(preset_table())
    print("\nLoad one with pclr_keras.load_encoder(NAME) or --model NAME; "
          "`pclr presets NAME` shows its licences, hashes and model card.")
