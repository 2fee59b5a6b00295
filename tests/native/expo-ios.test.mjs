// @clerk/expo in iOS mode (see expo-suite.mjs).
import { expoSuite } from './expo-suite.mjs'

expoSuite('ios')
