"""adlab.vision.registry: register, list with wildcards, create by name, helpful errors."""

import pytest
import torch.nn as nn

import adlab.vision as vision
from adlab.vision import create_model, list_models, registry


def test_list_models_wildcards_and_natural_order():
    assert list_models("vgg1?_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert list_models("resnet*")[:5] == ["resnet18", "resnet20", "resnet32", "resnet34", "resnet44"]
    assert list_models("wrn*") == ["wrn16_4", "wrn16_8", "wrn28_2", "wrn28_10", "wrn40_2", "wrn40_4"]
    assert list_models(["lenet*", "alex*"]) == ["alexnet", "lenet5"]
    assert list_models("no_such_*") == []
    assert set(list_models(family="vgg")) == set(list_models("vgg*"))
    assert list_models() == sorted(list_models(), key=registry._natural_key)
    assert len(list_models()) >= 45


def test_create_model_passes_common_arguments():
    m = create_model("resnet20", num_classes=7, in_channels=2, image_size=28)
    assert m.fc.out_features == 7 and m.stem[0].in_channels == 2
    assert vision.is_model("resnet20") and not vision.is_model("resnet21")
    assert registry.model_family("densenet121") == "densenet"


def test_unknown_name_names_the_closest_models():
    with pytest.raises(ValueError) as err:
        create_model("resnet5O")
    msg = str(err.value)
    assert "resnet50" in msg and "unknown model" in msg
    with pytest.raises(ValueError, match="mobilenet_v2"):
        create_model("mobilenetv2")
    with pytest.raises(ValueError, match="unknown model 'zzz'"):
        create_model("zzz")


def test_register_model_and_name_clash():
    @registry.register_model(name="_test_tiny_net")
    def tiny(num_classes=10, in_channels=1, image_size=28):
        return nn.Linear(in_channels * image_size * image_size, num_classes)

    try:
        assert "_test_tiny_net" in list_models("_test_*")
        assert create_model("_test_tiny_net", num_classes=3, in_channels=1, image_size=4).out_features == 3
        with pytest.raises(ValueError, match="already registered"):

            @registry.register_model(name="_test_tiny_net")
            def other(**kw):
                return nn.Identity()

    finally:
        registry._MODEL_ENTRYPOINTS.pop("_test_tiny_net", None)
        registry._MODEL_FAMILY.pop("_test_tiny_net", None)


def test_unknown_keyword_is_an_error():
    with pytest.raises(TypeError):
        create_model("resnet20", not_an_option=1)
